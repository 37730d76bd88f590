"""The model's graph (NLU components for a message, policies for each next action) runs without dask.

Rasa 3.6 hands every run to `dask.get`, after computing the minimal schema for its targets and
building a dask graph anew; for a graph of a dozen nodes on one thread that bookkeeping was a sixth
of a message's parse (19.4 -> 16.1 ms per parse, the same results for 200 held-out messages). Here
the built graph is kept per set of targets and each node is run once, after the nodes it needs, in
the calling thread: what dask's synchronous scheduler does.
"""

from __future__ import annotations

from typing import Any

from bot.rasa.patches.wrapping import Replacement, replace


def install() -> list[Replacement]:
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    def run(
        self: DaskGraphRunner, inputs: dict[str, Any] | None = None, targets: list[str] | None = None
    ) -> dict[str, Any]:
        run_targets = targets if targets else self._graph_schema.target_names
        graphs = self.__dict__.setdefault("_hotline_graphs", {})
        graph = graphs.get(tuple(run_targets))
        if graph is None:  # the nodes are the runner's, made once: only their wiring is built here
            graph = self._build_dask_graph(self._graph_schema.minimal_graph_schema(run_targets))
            graphs[tuple(run_targets)] = graph
        run_graph = dict(graph)
        if inputs:
            self._add_inputs_to_graph(inputs, run_graph)
        results: dict[str, Any] = {}

        def value(key: str) -> Any:
            if key not in results:
                task = run_graph[key]
                # a dask task is (callable, *keys of its inputs); anything else is a value
                # (the inputs are added as (name, value), which is what a node returns)
                results[key] = task[0](*(value(k) for k in task[1:])) if callable(task[0]) else task
            return results[key]

        try:
            return dict(value(t) for t in run_targets)
        except RuntimeError as e:  # as DaskGraphRunner.run reports a failing node
            raise GraphRunError("Error running runner.") from e

    return [replace(DaskGraphRunner, "run", run)]
