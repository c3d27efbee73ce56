"""The indicators pane: the chosen indicators for the highlighted symbol.

Why a fixed default ranking: the selection model (a later issue) will choose
per regime which indicators matter; until then the pane shows ``DEFAULT_RANKING``
— the AVWAP family first (distance from each anchor in σ), then the classic
momentum/trend/volatility/volume reads a discretionary trader scans — and after
those any other registry output, so nothing is hidden. Direction compares with
the previous minute: ▲ rising, ▼ falling, · unchanged or unknown.
"""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from engine.snapshot import REGIMES
from tui import fmt
from tui.controller import Frame

DEFAULT_RANKING: tuple[str, ...] = (
    "avwap_session_z", "avwap_day_z", "avwap_week_z", "avwap_month_z",
    "avwap_quarter_z", "avwap_year_z",
    "rsi_14", "macd_hist", "adx_14", "plus_di_14", "minus_di_14", "stoch_k", "cci_20",
    "bb_pctb", "zscore_20", "natr_14", "atr_14", "mfi_14", "cmf_20", "rvol_10",
    "ema_9", "ema_21", "sma_50", "sar",
)


#: Cells per indicator column group (name, value, arrow, padding).
GROUP_WIDTH = 31


def ranking(names: tuple[str, ...]) -> list[str]:
    """The pane's order for the engine's ``names``: the default list, then the rest."""
    present = set(names)
    first = [n for n in DEFAULT_RANKING if n in present]
    chosen = set(first)
    rest = [n for n in names if n not in chosen and n != "regime"
            and not (n.startswith("avwap_") and not n.endswith("_z"))]
    return first + rest


def direction(now: float, before: float) -> str:
    if not (np.isfinite(now) and np.isfinite(before)) or now == before:
        return "·"
    return "▲" if now > before else "▼"


class IndicatorsPane(Static):
    """Name, value and direction of the ranked indicators (as many as fit)."""

    DEFAULT_CSS = """
    IndicatorsPane { height: 14; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._order: list[str] = []
        self._names: tuple[str, ...] = ()

    def rows(self, symbol: str, frame: Frame, limit: int | None = None
             ) -> list[tuple[str, str, str]]:
        """(name, value text, direction) in pane order (the tests read this)."""
        snap = frame.snapshot
        if snap.names != self._names:
            self._names, self._order = snap.names, ranking(snap.names)
        i = snap.symbols.index(symbol)
        out = []
        for name in self._order[:limit]:
            j = snap.names.index(name)
            v = float(snap.values[i, j])
            before = float(frame.prev_values[i, j]) if frame.prev_values is not None else np.nan
            text = fmt.sigma(v) if name.endswith("_z") else fmt.value(v)
            out.append((name, text, direction(v, before)))
        return out

    def show(self, symbol: str, frame: Frame) -> None:
        snap = frame.snapshot
        if symbol not in snap.symbols:
            self.update(Text(f"{symbol}: no data", style="dim"))
            return
        code = int(snap.regime[snap.symbols.index(symbol)])
        regime = REGIMES[code] if 0 <= code < len(REGIMES) else "warming up"
        table = Table(title=Text(f"{symbol} indicators · regime {regime}", style="bold"),
                      title_justify="left", box=None, expand=True, padding=(0, 1))
        # Fill column groups top to bottom, as many groups as the width allows.
        per_col = max(1, self.size.height - 1) if self.size.height else 12
        groups = max(1, (self.size.width or 36) // GROUP_WIDTH)
        rows = self.rows(symbol, frame, per_col * groups)
        for _ in range(groups):
            table.add_column("", no_wrap=True)
            table.add_column("", justify="right", no_wrap=True)
            table.add_column("", width=1)
        table.show_header = False
        for r in range(min(per_col, len(rows))):
            cells: list[Text | str] = []
            for g in range(groups):
                k = g * per_col + r
                if k < len(rows):
                    name, text, arrow = rows[k]
                    style = "green" if arrow == "▲" else "red" if arrow == "▼" else "dim"
                    cells += [name, text, Text(arrow, style=style)]
                else:
                    cells += ["", "", ""]
            table.add_row(*cells)
        self.update(table)
