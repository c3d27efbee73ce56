"""IB's data-farm status codes, collapsed into one line per change.

Why a module of its own: the gateway repeats farm notices (2103 "market data
farm connection is broken", 2105 for the historical farm, 2157 for sec-def,
2110 for TWS-to-server), sometimes hundreds a minute while a farm flaps. Said
one notice each, they buried the console under toasts and froze it for
seconds. ``FarmStatus`` keeps which farm is broken since when, and reports a
new summary line only when that changes: the first break of a farm, and its
return (2104, 2106, 2158, 2107, 2108 name the farm that is OK again).
"""

from __future__ import annotations

import time

#: Codes saying a farm (or the TWS-server link) is broken.
BROKEN = {2103: "market data", 2105: "historical data", 2157: "sec-def", 2110: "TWS-server"}
#: Codes saying a farm is OK again (2107/2108: inactive but available on demand).
OK = {2104: "market data", 2106: "historical data", 2158: "sec-def", 2107: "historical data",
      2108: "market data"}

#: The line when no farm is broken any more.
ALL_OK = "IB data farms are OK again"


def farm_name(code: int, message: str) -> str:
    """The farm a notice names ("...is broken:usfarm" → "usfarm"), else its kind."""
    kind = BROKEN.get(code) or OK.get(code) or str(code)
    if code == 2110:
        return kind
    tail = message.rsplit(":", 1)[-1].strip() if ":" in message else ""
    return tail or kind


class FarmStatus:
    """Broken farms and since when; ``update`` says the new summary only on a change."""

    def __init__(self) -> None:
        self.broken: dict[str, tuple[int, float]] = {}  # farm -> (code, wall clock since)

    def update(self, code: int, message: str, now: float | None = None) -> str | None:
        """The new summary line when ``code`` changes a farm's state, else None
        (a repeated notice, or an OK of a farm that was not broken)."""
        name = farm_name(code, message)
        if code in BROKEN:
            if name in self.broken:
                return None
            self.broken[name] = (code, time.time() if now is None else now)
            return self.summary()
        if code in OK and self.broken.pop(name, None) is not None:
            return self.summary()
        return None

    def summary(self) -> str:
        """One line: every broken farm, its kind and since when ("" when all are OK)."""
        parts = [
            f"{name} ({BROKEN[code]}, IB {code}) since "
            f"{time.strftime('%H:%M:%S', time.localtime(since))}"
            for name, (code, since) in self.broken.items()
        ]
        return f"IB farm broken: {'; '.join(parts)}" if parts else ""
