"""The indicators pane: the chosen indicators for the highlighted symbol.

With an active selector model (``avwap models use NAME`` or the Training
screen), the pane lists the model's top-k first — "weight name", the value, and
the pick's directional reading (▲ long, ▼ short, · none now) — then the rest.
A model that did not beat the baselines with skill on its test days is named
with what it has no edge over ("model X picks — no edge over fixed set").
Without one (or while its window warms), it says so and shows ``DEFAULT_RANKING``
— the AVWAP family first (distance from each anchor in σ), then the classic
momentum/trend/volatility/volume reads a discretionary trader scans — and after
those any other registry output, so nothing is hidden. Direction compares with
the previous minute: ▲ rising, ▼ falling, · unchanged or unknown.

Why a Line-API widget and not a Rich ``Table``: profiling at ~650 symbols showed
the Rich table (≈40 cells measured, padded and wrapped on every update) as the
largest single cost of a console frame. The pane is a fixed grid — column groups
of name, value and arrow — so ``show`` only formats the visible rows and
``render_line`` lays each line out as a few segments.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from engine.snapshot import REGIMES
from tui import fmt
from tui.views import IndicatorValues
from tui.widgets.strip_cache import StripCache

DEFAULT_RANKING: tuple[str, ...] = (
    "avwap_session_z", "avwap_day_z", "avwap_week_z", "avwap_month_z",
    "avwap_quarter_z", "avwap_year_z",
    "rsi_14", "macd_hist", "adx_14", "plus_di_14", "minus_di_14", "stoch_k", "cci_20",
    "bb_pctb", "zscore_20", "natr_14", "atr_14", "mfi_14", "cmf_20", "rvol_10",
    "ema_9", "ema_21", "sma_50", "sar",
)


#: Cells per indicator column group (name, value, arrow, padding).
GROUP_WIDTH = 31
VALUE_WIDTH = 10
ARROW_STYLE = {"▲": Style(color="green"), "▼": Style(color="red"), "·": Style(dim=True)}


def ranking(names: tuple[str, ...]) -> list[str]:
    """The pane's order for the engine's ``names``: the default list, then the rest."""
    present = set(names)
    first = [n for n in DEFAULT_RANKING if n in present]
    chosen = set(first)
    rest = [n for n in names if n not in chosen and n != "regime"
            and not (n.startswith("avwap_") and not n.endswith("_z"))]
    return first + rest


#: A model pick's directional reading: long, short, no reading now.
READING = {1: "▲", -1: "▼", 0: "·"}


def _text(name: str, v: float) -> str:
    return fmt.sigma(v) if name.endswith("_z") else fmt.value(v)


def direction(now: float, before: float) -> str:
    if not (np.isfinite(now) and np.isfinite(before)) or now == before:
        return "·"
    return "▲" if now > before else "▼"


class IndicatorsPane(StripCache, Widget):
    """Name, value and direction of the ranked indicators (as many as fit)."""

    DEFAULT_CSS = """
    IndicatorsPane { height: 14; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._order: list[str] = []
        self._names: tuple[str, ...] = ()
        self._index: dict[str, int] = {}
        self.title = ""
        self.shown: list[tuple[str, str, str]] = []  # the rows on screen, in pane order
        self._strips: dict[int, Strip] = {}

    def rows(self, view: IndicatorValues, limit: int | None = None
             ) -> list[tuple[str, str, str]]:
        """(name, value text, direction) in pane order (the tests read this)."""
        if view.names != self._names:
            self._names, self._order = view.names, ranking(view.names)
            self._index = {n: j for j, n in enumerate(view.names)}
        picked = [(n, w, d) for n, w, d in view.picks if n in self._index]
        out = [(f"{w:.2f} {n}", _text(n, float(view.now[self._index[n]])), READING[d])
               for n, w, d in picked]
        taken = {n for n, _, _ in picked}
        names = [n for n in self._order if n not in taken]
        names = names[: None if limit is None else max(0, limit - len(out))]
        cols = [self._index[n] for n in names]
        now = view.now[cols].tolist()
        before = (view.before[cols].tolist() if view.before is not None
                  else [np.nan] * len(cols))
        return out + [(name, _text(name, v), direction(v, b))
                      for name, v, b in zip(names, now, before, strict=True)]

    def _grid(self) -> tuple[int, int]:
        """(rows per column group, column groups) for the current size."""
        per_col = max(1, self.size.height - 1) if self.size.height else 12
        groups = max(1, (self.size.width or 36) // GROUP_WIDTH)
        return per_col, groups

    def show(self, symbol: str, view: IndicatorValues | None) -> None:
        """The ranked indicators of ``view`` (``None``: ``symbol`` has no data)."""
        self._strips.clear()
        self.refresh()
        if view is None:
            self.title, self.shown = f"{symbol}: no data", []
            return
        code = view.regime
        regime = REGIMES[code] if 0 <= code < len(REGIMES) else "warming up"
        source = view.picks_source or "default ranking"
        # "model X — no edge over fixed set": the picks of a model that did not beat the
        # baselines with skill say so (models.registry.edge_note), "picks" after the name
        name, sep, edge = source.partition(" — ")
        picks = f"{name} picks{sep}{edge}" if view.picks else source
        self.title = f"{symbol} indicators · {picks} · regime {regime}"
        per_col, groups = self._grid()
        self.shown = self.rows(view, per_col * groups)

    def _line(self, y: int, width: int) -> Strip:
        base = self.rich_style
        if y == 0:
            style = base + (Style(bold=True) if self.shown else Style(dim=True))
            return Strip([Segment(self.title, style)]).extend_cell_length(
                width, base).crop(0, width)
        per_col, groups = self._grid()
        r = y - 1
        # A pane narrower than one group still shows values: the name gives way.
        gw = max(GROUP_WIDTH, width // groups) if width >= GROUP_WIDTH else width
        nw = max(1, gw - VALUE_WIDTH - 5)  # " name value arrow "
        segs: list[Segment] = []
        for g in range(groups):
            k = g * per_col + r
            if r >= per_col or k >= len(self.shown):
                break
            name, text, arrow = self.shown[k]
            segs += [Segment(" " + name[:nw].ljust(nw) + " " + text.rjust(VALUE_WIDTH) + " ",
                             base),
                     Segment(arrow, base + ARROW_STYLE[arrow]), Segment(" ", base)]
        return Strip(segs).extend_cell_length(width, base).crop(0, width)

