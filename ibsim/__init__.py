"""An offline IB Gateway: speaks enough of the TWS socket protocol for ib_async/ib_insync.

It exists so that the IB feed is tested against the real client library (its
framing, decoder and request bookkeeping) without an IB account, and so that
``avwap sim-gateway`` can power a live-looking demo.
"""

from __future__ import annotations

from ibsim.bars import SimBars
from ibsim.clock import ManualClock
from ibsim.server import GatewaySim

__all__ = ["GatewaySim", "ManualClock", "SimBars"]
