"""Answers and stream updates into closed minutes: the cache, the assembler, the batches.

Why a layer of its own: this is where "forming minutes are never final" is
kept. An answer's bars at or after the gateway's forming minute are never
written; the last one of a streaming answer becomes the forming bar, which a
later update closes. Bars of minutes already handed to the engine go to the
cache only and are reported ``late`` (the engine re-warms the symbol).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from storage.feeds import ib_client as ibc
from storage.feeds.base import FeedState
from storage.feeds.ib_core import FeedCore
from storage.feeds.ib_writer import Row
from storage.feeds.minutes import Ohlcv

#: Seconds a minute handed to the engine waits before its cache write (``ib_writer``).
WRITE_AFTER_EMIT_S = 0.5


class StreamMixin(FeedCore):
    """Subscriptions, closed minutes, emission and cache writes."""

    def _take(self, sym: str, bars: Any, live: bool, end: int | None = None) -> None:
        """Write an answer's closed bars, hand the unseen ones to the assembler, and stream.

        Which bars are closed is read from the answer itself, not from a clock
        read before the request (a minute may close while the answer is on its
        way): a streaming answer's bars before its last are closed, and so is
        its last when the gateway's clock is already past it; a one-shot answer
        (``end``: the minute it was asked to end at) holds closed bars only.
        """
        server_min = self._server_minute()
        if sym not in self._fed and not self._released_once and self.warm_end is not None:
            self._fed[sym] = int(self.warm_end.astype(np.int64)) - 1  # in the engine's history
        fed = self._fed.get(sym, -1)
        rows: list[Row] = []
        forming: tuple[int, Ohlcv] | None = None
        late: list[int] = []
        last = len(bars) - 1
        for i, b in enumerate(bars):
            m = ibc.utc_minute(b.date)
            bar = (b.open, b.high, b.low, b.close, b.volume)
            if live and i == last and m >= server_min:  # the forming minute: never final
                forming = (m, bar)
                continue
            if not live and m >= (server_min if end is None else end):
                continue  # asked to end before it: a bar of an unfinished minute
            rows.append((sym, m, *bar))
            if not self._asm.add_closed(sym, m, bar) and m > fed:
                late.append(m)
        if rows:
            self._last_closed[sym] = max(self._last_closed.get(sym, rows[-1][1]), rows[-1][1])
            self._write(rows)
        if late:
            self.late[sym] = min(self.late.get(sym, late[0]), late[0])
            self._event("info", f"{sym}: {len(late)} minutes arrived after they were shown "
                        "(re-warm it from the cache)", sym, kind="late")
        if not live:
            if sym in self._not_live:
                self.status[sym] = "not live"
            elif sym not in self._subs:
                self.status[sym] = "backfilled"
            return
        self.status[sym] = "live"
        self._subs[sym] = bars
        if sym in self._retrying:
            self._retrying.discard(sym)
            if not self._retrying and not self._gave_up:
                self._event("info", f"{sym} streams again: no symbol is given up now",
                            sym, kind="resumed")
        self._asm.stream(sym, forming)
        self._last_update[sym] = self.clock()

        def handler(bars_: Any, _new: bool, sym: str = sym) -> None:
            self._on_bar(sym, bars_[-1])

        self._handlers[sym] = handler
        bars.updateEvent += handler
        if self.pacing is not None and not self._paced_streams:
            self._pacing_notice("info")  # the wait's notice said nothing streams: now one does
        if not self._asm.hold and self.state is FeedState.BACKFILLING:
            self._set_state(FeedState.LIVE)  # the first stream after a pacing wait
        self._emit_ready()

    def _pacing_notice(self, level: str) -> None:
        """Say the pacing wait as it is now (``ib_recovery``)."""

    def _unsubscribe(self, sym: str) -> None:
        bars = self._subs.pop(sym, None)
        handler = self._handlers.pop(sym, None)
        if bars is not None:
            if handler is not None:
                bars.updateEvent -= handler
            if self.client.is_connected():
                self.client.cancel(bars)
        self._asm.forget(sym)

    def _drop_streams(self) -> None:
        self._subs.clear()
        self._handlers.clear()
        self._asm.forget()

    def _on_bar(self, sym: str, b: Any) -> None:
        m = ibc.utc_minute(b.date)
        self._last_update[sym] = self.clock()
        closed = self._asm.update(sym, m, (b.open, b.high, b.low, b.close, b.volume))
        if self.state == FeedState.STALLED:
            self._set_state(FeedState.LIVE)
        if closed is not None:
            cm, bar = closed
            self._last_closed[sym] = max(self._last_closed.get(sym, cm), cm)
            self._write([(sym, cm, *bar)])
            self._emit_ready()
        elif self.emit_forming and not self._forming_soon:
            self._forming_soon = True
            asyncio.get_running_loop().call_soon(self._emit_forming)

    def _emit_ready(self, force_through: int | None = None) -> None:
        emitted = False
        for m in self._asm.complete(force_through):
            batch = self._asm.pop_batch(m)
            for s, ok in zip(batch.symbols, batch.valid, strict=True):
                if ok:
                    self._fed[s] = m
            self._queue.put_nowait(batch)
            emitted = True
            self._notify()
        # A minute just handed over is written after the engine's step, not during it.
        self._writer.kick(WRITE_AFTER_EMIT_S if emitted else 0.0)
        if self._asm.pending and self._grace is None and not self._asm.hold:
            first = min(self._asm.pending)
            self._grace = asyncio.get_running_loop().call_later(
                self.config.close_grace_s, self._grace_expired, first
            )

    def _grace_expired(self, minute: int) -> None:
        self._grace = None
        self._emit_ready(force_through=minute)

    def _emit_forming(self) -> None:
        self._forming_soon = False
        batch = self._asm.forming_batch()
        if batch is not None:
            self._queue.put_nowait(batch)

    def _write(self, rows: list[Row]) -> None:
        # A minute still pending is written when it is handed over (or on flush).
        self._writer.add(rows, now=self._asm.hold or not self._asm.pending)
