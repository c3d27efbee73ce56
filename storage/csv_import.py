"""Import minute bars from CSV files with a stated layout, zone and labelling.

Vendors disagree on three things, and all three are stated, never guessed:
- the **layout**: delimiter, header or not, which column is which;
- the **time zone** of timestamps that carry no offset (one with an offset,
  like ``2011-01-03T04:00:00-05:00``, always wins);
- the **labelling**: a bar stamped with its start (09:30 is the first regular
  minute) or with its end (NinjaTrader stamps that bar 09:31).

Rows that cannot become bars (a bad number, an unparsable or zone-less time, a
local time that does not exist or is ambiguous at a DST change, a line with
more fields than the layout, a bar whose exchange-time date is no NYSE trading
day, such as a Saturday) are stored in ``rejected_bars`` with the text as received and the
reason; the rest go through the cache's validation (which also refuses absurd
prices). Duplicated (symbol, minute) rows keep the last one and are counted, so
``rows = written + rejected + duplicates`` always holds. Nothing is dropped
silently, and a file that cannot be read at all (empty, a directory, not text,
an unknown ``--tz``) is one ``ImportError_`` line, never a traceback.

Presets: ``ninjatrader`` (``YYYYMMDD HHMMSS;o;h;l;c;v``, UTC, bar end) and
``iso`` (``timestamp,open,high,low,close,volume[,…]`` header, bar start).
"""

from __future__ import annotations

import re
import warnings
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from storage import calendar
from storage.cache import Cache, WriteResult, bars_table
from storage.errors import ImportError_
from storage.types import FIELDS

if TYPE_CHECKING:  # pandas loads only when a CSV is read (it costs every command ~0.2 s)
    import pandas as pd

_OFFSET = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")
UNPARSABLE_TIME = "unparsable timestamp"
NONEXISTENT_TIME = "local time does not exist or is ambiguous (DST)"
NOT_A_NUMBER = "not a number"
NO_SYMBOL = "missing value"
UNKNOWN_TZ = "unknown timezone"
WRONG_FIELDS = "wrong number of fields"
NO_SESSION = "not a trading day (weekend or holiday)"
_SKIPPED = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


@dataclass(frozen=True)
class CsvLayout:
    """How to read one CSV format. ``columns`` name the fields in file order
    (``ts``, ``symbol``, ``open`` … ``volume``; any other name is ignored)."""

    columns: tuple[str, ...] | None = None  # None: take names from the header
    delimiter: str = ","
    header: bool = True
    ts_format: str | None = None  # strptime format; None: ISO 8601
    tz: str | None = None  # zone of timestamps without an offset
    label: str = "start"  # "start" or "end" of the minute
    symbol: str | None = None  # symbol for files without a symbol column

    def __post_init__(self) -> None:
        if self.label not in ("start", "end"):
            raise ImportError_(f"label must be 'start' or 'end', not {self.label!r}")
        if self.tz is not None:
            try:
                zoneinfo.ZoneInfo(self.tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ImportError_(
                    f"unknown time zone {self.tz!r}: use an IANA name like America/New_York or UTC"
                ) from None


PRESETS: dict[str, CsvLayout] = {
    "ninjatrader": CsvLayout(
        columns=("ts", *FIELDS),
        delimiter=";",
        header=False,
        ts_format="%Y%m%d %H%M%S",
        tz="UTC",
        label="end",
    ),
    "iso": CsvLayout(label="start"),
}

_ALIASES = {"timestamp": "ts", "time": "ts", "datetime": "ts", "date": "ts", "ticker": "symbol"}


def layout_for(preset: str | None, **overrides: object) -> CsvLayout:
    """A preset with explicit options on top (None values are ignored)."""
    if preset is not None and preset not in PRESETS:
        raise ImportError_(f"unknown CSV preset {preset!r}; choose from {', '.join(PRESETS)}")
    base = PRESETS[preset] if preset else CsvLayout()
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **given)  # type: ignore[arg-type]


def import_csv(
    cache: Cache, path: Path | str, layout: CsvLayout, *, chunk_rows: int = 1_000_000
) -> WriteResult:
    """Import one file in chunks (bounded memory); returns the summed result."""
    p = Path(path)
    total = WriteResult()
    for bars, rejected in read_csv(p, layout, chunk_rows=chunk_rows):
        if rejected is not None and rejected.num_rows:
            total.add(cache.reject(rejected, source=f"csv:{p.name}"))
        if bars.num_rows:
            total.add(cache.write_bars(bars, source=f"csv:{p.name}"))
    return total


def read_csv(
    path: Path, layout: CsvLayout, *, chunk_rows: int = 1_000_000
) -> Iterator[tuple[pa.Table, pa.Table | None]]:
    """Yield (bars, rows rejected while parsing) per chunk of the file."""
    import pandas as pd

    if not path.exists():
        raise ImportError_(f"{path}: no such file")
    if path.is_dir():
        raise ImportError_(f"{path}: is a directory, not a CSV file")
    names = list(layout.columns) if layout.columns else None
    skipped: list[tuple[int, int, int]] = []  # (line, expected, saw)
    header: list[str] | None = None
    try:
        reader = pd.read_csv(
            path,
            sep=layout.delimiter,
            header=0 if layout.header else None,
            names=names,
            dtype=str,
            keep_default_na=False,
            chunksize=chunk_rows,
            skipinitialspace=True,
            on_bad_lines="warn",  # a line with extra fields is one bad row, not a failed file
        )
        while True:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                chunk = next(reader, None)
            for w in caught:
                for m in _SKIPPED.finditer(str(w.message)):
                    line, expected, saw = (int(g) for g in m.groups())
                    skipped.append((line, expected, saw))
            if chunk is None:
                break
            header = [str(c) for c in chunk.columns]
            yield _convert(path, chunk, layout)
    except pd.errors.EmptyDataError:
        raise ImportError_(f"{path}: the file is empty (no header and no rows)") from None
    except pd.errors.ParserError as e:
        raise ImportError_(f"{path}: not a CSV of the stated layout: {e}") from e
    except UnicodeDecodeError as e:
        raise ImportError_(f"{path}: not a text file ({e.reason})") from e
    except OSError as e:
        raise ImportError_(f"{path}: cannot be read: {e.strerror}") from e
    if skipped:
        yield _empty_bars(), _wrong_field_rows(path, layout, header, skipped)


def _empty_bars() -> pa.Table:
    return bars_table([], np.array([], "datetime64[us]"), *(np.array([]) for _ in FIELDS))


def _wrong_field_rows(
    path: Path, layout: CsvLayout, header: list[str] | None, skipped: list[tuple[int, int, int]]
) -> pa.Table:
    """The lines pandas skipped for their field count, as received, with the reason.

    Fields are kept by position under the layout's names; the last column keeps
    the rest of the line (the extra fields with it), so nothing is lost.
    """
    want = {line: (exp, saw) for line, exp, saw in skipped}
    names = [
        _ALIASES.get(n.strip().lower(), n.strip().lower())
        for n in (header or list(layout.columns or ()))
    ]
    cols: dict[str, list[str | None]] = {c: [] for c in ("symbol", "ts", *FIELDS, "reason")}
    with path.open(encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if lineno not in want:
                continue
            exp, saw = want[lineno]
            fields = [f.strip() for f in line.rstrip("\r\n").split(layout.delimiter)]
            # The last column keeps the rest of the line, extra fields included.
            rest = layout.delimiter.join(fields[len(names) - 1 :])
            row = dict(zip(names, [*fields[: len(names) - 1], rest], strict=False))
            for c in ("symbol", "ts", *FIELDS):
                cols[c].append(row.get(c, layout.symbol if c == "symbol" else None))
            cols["reason"].append(f"{WRONG_FIELDS} (expected {exp}, saw {saw})")
    return pa.table({c: pa.array(v, pa.string()) for c, v in cols.items()})


def _convert(path: Path, df: pd.DataFrame, layout: CsvLayout) -> tuple[pa.Table, pa.Table | None]:
    import pandas as pd

    df = df.rename(columns=lambda c: _ALIASES.get(str(c).strip().lower(), str(c).strip().lower()))
    need = ["ts", *FIELDS]
    lacking = [c for c in need if c not in df.columns]
    if lacking:
        raise ImportError_(
            f"{path}: no column(s) {', '.join(lacking)} "
            f"(columns: {', '.join(map(str, df.columns))}); state the layout with --columns"
        )
    if "symbol" in df.columns:
        symbol = df["symbol"].str.strip().str.upper()
    elif layout.symbol:
        symbol = pd.Series(layout.symbol.upper(), index=df.index)
    else:
        raise ImportError_(f"{path}: the file has no symbol column; give --symbol")

    n = len(df)
    reason = np.full(n, None, dtype=object)
    ts = _parse_ts(df["ts"].astype(str).str.strip(), layout, reason)
    values = {}
    for f in FIELDS:
        num = pd.to_numeric(df[f].str.strip(), errors="coerce")
        bad = num.isna().to_numpy() & (reason == None)  # noqa: E711
        reason[bad] = f"{NOT_A_NUMBER} in {f}"
        values[f] = num.to_numpy(dtype=np.float64, na_value=np.nan)
    empty_sym = (symbol.fillna("") == "").to_numpy() & (reason == None)  # noqa: E711
    reason[empty_sym] = NO_SYMBOL
    start = ts - np.timedelta64(1, "m") if layout.label == "end" else ts
    outside = ~_on_trading_day(start) & (reason == None)  # noqa: E711
    reason[outside] = NO_SESSION

    bad_rows = reason != None  # noqa: E711
    rejected = None
    if bad_rows.any():
        raw = df.loc[bad_rows]
        rejected = pa.table(
            {
                "symbol": pa.array(symbol[bad_rows].astype(str).tolist(), pa.string()),
                "ts": pa.array(raw["ts"].astype(str).tolist(), pa.string()),
                **{f: pa.array(raw[f].astype(str).tolist(), pa.string()) for f in FIELDS},
                "reason": pa.array(reason[bad_rows].tolist(), pa.string()),
            }
        )
    good = ~bad_rows
    ts_good = ts[good]
    if layout.label == "end":
        ts_good = ts_good - np.timedelta64(1, "m")
    bars = bars_table(
        symbol.to_numpy(dtype=object)[good], ts_good, *(values[f][good] for f in FIELDS)
    )
    return bars, rejected


def _on_trading_day(ts: np.ndarray) -> np.ndarray:
    """True where a bar's start falls on an XNYS session date in exchange time.

    Why the date, not the 04:00–20:00 window: vendors do print bars just outside
    it (the SPY 2011 export has one at 20:00 ET); those are stored and reported by
    ``avwap cache check`` as outside the session, while a Saturday bar is no
    market's bar at all. NaT counts as a trading day (its row has a reason already).
    """
    m = ts.astype("datetime64[m]")
    ok = np.isnat(m)
    if (~ok).any():
        local = calendar.exchange_dates(m[~ok])
        ok[~ok] = np.isin(local, calendar.schedule().dates)
    return ok


def _parse_ts(text: pd.Series, layout: CsvLayout, reason: np.ndarray) -> np.ndarray:
    """UTC ``datetime64[us]`` per row; rows that fail get a reason and NaT."""
    import pandas as pd

    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
    has_offset = text.str.contains(_OFFSET).to_numpy()
    if has_offset.any():
        parsed = pd.to_datetime(text[has_offset], utc=True, errors="coerce", format="ISO8601")
        _store(out, reason, has_offset, parsed, UNPARSABLE_TIME)
    naive = ~has_offset
    if naive.any():
        fmt = layout.ts_format or "ISO8601"
        parsed = pd.to_datetime(text[naive], errors="coerce", format=fmt)
        if layout.tz is None:
            idx = np.flatnonzero(naive)
            reason[idx] = np.where(parsed.isna().to_numpy(), UNPARSABLE_TIME, UNKNOWN_TZ)
        else:
            unparsable = parsed.isna().to_numpy()
            local = parsed.dt.tz_localize(layout.tz, ambiguous="NaT", nonexistent="NaT")
            idx = np.flatnonzero(naive)
            reason[idx[unparsable]] = UNPARSABLE_TIME
            _store(out, reason, naive, local.dt.tz_convert("UTC"), NONEXISTENT_TIME)
    return out


def _store(
    out: np.ndarray, reason: np.ndarray, mask: np.ndarray, parsed: pd.Series, why: str
) -> None:
    idx = np.flatnonzero(mask)
    vals = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    nat = np.isnat(vals)
    out[idx[~nat]] = vals[~nat]
    fresh = idx[nat][reason[idx[nat]] == None]  # noqa: E711
    reason[fresh] = why
