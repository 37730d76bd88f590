"""How a rate is shown: always with its n, and below 30 as 样本不足 instead of a percentage.

The one rule for every rate of the report, on the page (html.py, and so the desk's /supervisor),
in the CSV (csv.py) and on the command line (__main__.py). The figures keep the exact ratio
(figures.py); only what people read is held back: 2 of 3 is not "66.7%" of anything.
"""

from __future__ import annotations

from dataclasses import dataclass

# below this many, a percentage moves by several points with one conversation more or less
MIN_N = 30
INSUFFICIENT = "样本不足"


def ratio(num: int, den: int) -> float | None:
    """num ÷ den to four places (None: nothing to divide by): what the figures keep."""
    return round(num / den, 4) if den else None


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


@dataclass(frozen=True)
class Rate:
    """A share (None: nothing to divide by) and n, the number it is a share of."""

    value: float | None
    n: int

    @property
    def enough(self) -> bool:
        return self.value is not None and self.n >= MIN_N

    @property
    def short(self) -> str:
        """The percentage, or 样本不足: for a place that shows n beside it (a KPI box)."""
        return pct(self.value) if self.enough else INSUFFICIENT

    @property
    def cell(self) -> float | str:
        """For the CSV: the ratio (0.8125), or 样本不足; n goes in a row of its own."""
        return self.value if self.enough and self.value is not None else INSUFFICIENT

    def __str__(self) -> str:
        return f"{self.short}（n={self.n}）"


def rate(value: float | None, n: int) -> str:
    """`81.3%（n=48）` or `样本不足（n=16）` (the Jinja filter `rate`)."""
    return str(Rate(value, n))
