"""The report's charts: small PNGs as data: URIs, so that the HTML file stands alone.

The only module of the package that uses matplotlib. It is imported when a chart is drawn, not
with the module: the desk imports the report at start, and matplotlib takes a second to load.
Without a font with Chinese glyphs, labels fall back to ids in Latin letters.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CJK_FONT_HINTS = (
    "notosanscjk",
    "notoserifcjk",
    "sourcehansans",
    "wqy",
    "droidsansfallback",
    "simhei",
    "msyh",
    "pingfang",
)
COLORS = ("#0b5cad", "#e07b00", "#2e7d32", "#c62828", "#6a1b9a", "#00838f", "#607d8b")


@dataclass(frozen=True)
class Segment:
    """One part of a stacked bar: its key in the rows, its legend and colour."""

    key: str
    legend: str
    color: str


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """A font family with Chinese glyphs for the charts (Debian: fonts-noto-cjk), or None."""
    from matplotlib import font_manager

    candidates = [
        p
        for p in font_manager.findSystemFonts()
        if any(h in Path(p).name.lower().replace("-", "") for h in CJK_FONT_HINTS)
    ]
    # prefer a sans-serif regular face
    candidates.sort(key=lambda p: ("sans" not in p.lower(), "regular" not in p.lower(), "bold" in p.lower(), p))
    for path in candidates:
        try:
            font_manager.fontManager.addfont(path)
            return str(font_manager.FontProperties(fname=path).get_name())
        except Exception:  # an unreadable font file: try the next one
            log.debug("font %s not usable", path, exc_info=True)
    return None


def _integer_ticks(axis: Any) -> None:
    """Counts are whole numbers: no 0.5 tick on a chart of conversations."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


class Charts:
    """The charts of one report, drawn with the CJK font if there is one."""

    def __init__(self, font: str | None = None, *, detect: bool = True) -> None:
        self.font = font if font or not detect else cjk_font()

    @property
    def zh(self) -> bool:
        return self.font is not None

    def label(self, zh: str, latin: str) -> str:
        return zh if self.zh else latin

    def _render(self, draw: Callable[[Any], None], size: tuple[float, float]) -> str:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        rc = {
            "font.family": [self.font, "DejaVu Sans"] if self.font else ["DejaVu Sans"],
            "font.size": 9,
            "axes.unicode_minus": False,
        }
        with matplotlib.rc_context(rc):
            figure = Figure(figsize=size, dpi=110)
            FigureCanvasAgg(figure)
            ax = figure.add_subplot(1, 1, 1)
            draw(ax)
            ax.spines["top"].set_visible(False)
            ax.spines["right"].set_visible(False)
            figure.tight_layout()
            buf = io.BytesIO()
            figure.savefig(buf, format="png")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()

    def hbar(
        self, labels: Sequence[str], values: Sequence[float], title: str, *, pct: bool = False, color: str | None = None
    ) -> str:
        def draw(ax: Any) -> None:
            ys = list(range(len(labels)))[::-1]
            ax.barh(ys, values, color=color or COLORS[0])
            ax.set_yticks(ys, labels)
            ax.set_title(title, loc="left")
            top = max(values) if values else 1
            for y, v in zip(ys, values, strict=True):
                ax.text(v + top * 0.01, y, f"{v:.0%}" if pct else f"{v:g}", va="center", fontsize=8)
            ax.set_xlim(0, (1.0 if pct else top) * 1.15 or 1)
            if not pct:
                _integer_ticks(ax.xaxis)

        return self._render(draw, (6.2, 0.7 + 0.3 * max(len(labels), 2)))

    def stacked_hours(self, series: Mapping[str, Sequence[int]], names: Mapping[str, str], title: str) -> str:
        """24 bars, one segment per series (a channel's conversations by hour)."""

        def draw(ax: Any) -> None:
            bottom = [0] * 24
            for i, (key, vals) in enumerate(series.items()):
                ax.bar(range(24), vals, bottom=bottom, label=names.get(key, key), color=COLORS[i % len(COLORS)])
                bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
            ax.set_xticks(range(0, 24, 2))
            _integer_ticks(ax.yaxis)
            ax.set_xlabel(self.label("时（城市时间）", "hour (city time)"))
            ax.set_title(title, loc="left")
            if series:
                ax.legend(frameon=False, fontsize=8)

        return self._render(draw, (6.2, 2.6))

    def stacked_states(
        self, rows: Sequence[tuple[str, Mapping[str, int]]], segments: Sequence[Segment], title: str
    ) -> str:
        """One horizontal bar per row (label, {segment key: n})."""

        def draw(ax: Any) -> None:
            ys = list(range(len(rows)))[::-1]
            left = [0] * len(rows)
            for seg in segments:
                vals = [r[1].get(seg.key, 0) for r in rows]
                ax.barh(ys, vals, left=left, label=seg.legend, color=seg.color)
                left = [a + b for a, b in zip(left, vals, strict=True)]
            ax.set_yticks(ys, [r[0] for r in rows])
            _integer_ticks(ax.xaxis)
            ax.set_title(title, loc="left", pad=18)
            # the legend above the bars, right of the title: never over a bar
            ax.legend(frameon=False, fontsize=8, ncol=len(segments), loc="lower right", bbox_to_anchor=(1.0, 1.0))

        return self._render(draw, (6.2, 1.0 + 0.3 * max(len(rows), 2)))
