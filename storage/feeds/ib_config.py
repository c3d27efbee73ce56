"""The ``[ib]`` config section: where TWS / IB Gateway listens and how the feed behaves.

Fields (all optional)::

    [ib]
    host = "127.0.0.1"        # TWS / IB Gateway host
    port = 4001               # IB Gateway live 4001, paper 4002; TWS live 7496, paper 7497
    client_id = 17            # unique per API connection to the same TWS
    backfill_days = 2         # prior sessions backfilled besides today
    market_data_lines = 100   # the account's market-data lines (live streams at most)
    use_rth = true            # regular trading hours only
    stall_after_s = 90        # no update for this long (market open) = stalled stream
    connect_timeout_s = 5     # a login that takes longer is retried
    request_timeout_s = 10    # the gateway's clock (and liveness probe) must answer within this
    history_timeout_s = 60    # a historical request that takes longer is given up
    reconnect_initial_s = 0.5 # first reconnect backoff; doubles up to reconnect_max_s
    reconnect_max_s = 30
    close_grace_s = 3         # a quiet symbol holds a closed minute back at most this long
    api = ""                  # "ib_async" or "ib_insync"; empty picks what is installed

The keys, types, defaults and bounds are declared once, in ``storage.settings``
(``IB``); this dataclass is what the feed reads. ``readonly`` is not
configurable: the console never places orders, so it always connects read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storage.errors import ConfigError
from storage.settings import IB

if TYPE_CHECKING:
    from storage.config import Config


@dataclass(frozen=True)
class IBConfig:
    host: str = "127.0.0.1"
    port: int = 4001
    client_id: int = 17
    backfill_days: int = 2
    market_data_lines: int = 100
    use_rth: bool = True
    stall_after_s: float = 90.0
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 10.0
    history_timeout_s: float = 60.0
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    close_grace_s: float = 3.0
    api: str = ""

    @property
    def readonly(self) -> bool:
        """Always True: the console only reads (no order can be placed)."""
        return True

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "[ib]") -> IBConfig:
        """The ``[ib]`` table read through its schema (``storage.settings.IB``)."""
        if "readonly" in raw and raw["readonly"] is not True:
            raise ConfigError(f"{where}: readonly cannot be turned off; the console never trades")
        return cls(**IB.read(raw, where))

    @classmethod
    def from_config(cls, cfg: Config) -> IBConfig:
        return cls.from_dict(cfg.section("ib"), f"{cfg.path}: [ib]")
