"""The on-disk price cache: one JSON file per ticker, written atomically, checked on read.

A file holds one ticker's daily bars in the project schema (``Open, High, Low, Close,
Adj Close, Volume`` on exchange-local dates), the time they were fetched, the first date asked
of Yahoo and a content hash over the bars. A file that cannot be read, fails a check or does
not match its hash is moved aside (``<name>.corrupt-<time>``) and treated as absent, so the
ticker is fetched again. Files are named by :func:`cache_filename`, a safe, unique, reversible
mapping: no ticker can name a file outside the cache folder or a Windows device (``CON``).

The folder is ``FORECAST_CACHE_DIR`` if set, else the user's cache dir (``platformdirs``);
prices go in its ``prices`` subfolder and yfinance's own caches in ``yfinance``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.data.frames import date_index
from forecast.data.series import PRICE_COLUMNS
from forecast.data.tickers import validate_ticker

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CLOCK$"]
    + [f"{dev}{i}" for dev in ("COM", "LPT") for i in range(10)]
)


def default_cache_dir() -> Path:
    """The project cache folder: ``FORECAST_CACHE_DIR``, else the user's cache dir."""
    env = os.environ.get("FORECAST_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("forecast", appauthor=False))


def cache_filename(ticker: str) -> str:
    """The cache file name of a ticker: safe on every OS, unique, reversible.

    Letters, digits and ``-`` stay; every other allowed character becomes ``_`` plus its two
    hex digits (``^GSPC`` -> ``_5EGSPC.json``, ``EURUSD=X`` -> ``EURUSD_3DX.json``). A name
    that Windows reserves for a device gets a trailing ``_`` (``CON`` -> ``CON_.json``).
    """
    norm = validate_ticker(ticker)
    stem = "".join(c if c.isalnum() or c == "-" else f"_{ord(c):02X}" for c in norm)
    if stem in _RESERVED:
        stem += "_"
    return f"{stem}.json"


def ticker_from_filename(name: str) -> str:
    """The ticker a :func:`cache_filename` name stands for; ``ValueError`` for other names."""
    if not name.endswith(".json"):
        raise ValueError(f"cache file name must end in .json; got {name!r}")
    stem, out, i = name[: -len(".json")], [], 0
    while i < len(stem):
        if stem[i] != "_":
            out.append(stem[i])
            i += 1
        elif i == len(stem) - 1:  # the reserved-name marker
            i += 1
        else:
            try:
                out.append(chr(int(stem[i + 1 : i + 3], 16)))
            except ValueError:
                raise ValueError(f"cache file name has a bad escape at {i}: {name!r}") from None
            i += 3
    ticker = validate_ticker("".join(out))
    if cache_filename(ticker) != name:
        raise ValueError(f"{name!r} is not the cache file name of any ticker")
    return ticker


def content_hash(frame: pd.DataFrame) -> str:
    """SHA-256 over the dates and the six price columns (NaN canonical); ``sha256:<hex>``."""
    h = hashlib.sha256()
    h.update(",".join(PRICE_COLUMNS).encode())
    h.update(pd.DatetimeIndex(frame.index).as_unit("ns").asi8.astype("<i8").tobytes())
    values = frame.loc[:, list(PRICE_COLUMNS)].to_numpy(dtype="<f8")
    values = np.where(np.isnan(values), np.nan, values)  # one bit pattern for every NaN
    h.update(np.ascontiguousarray(values).tobytes())
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """One ticker's cached bars and what is known about them.

    ``start`` is the first date asked of Yahoo (``None``: the whole history), ``fetched_at``
    the aware UTC time of the last successful fetch, ``content_hash`` the data vintage.
    """

    ticker: str
    frame: pd.DataFrame
    fetched_at: datetime
    start: date | None = None
    exchange_tz: str | None = None
    currency: str | None = None
    content_hash: str = field(default="")

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self.frame))

    @property
    def last_date(self) -> date | None:
        """The date of the last cached bar, or ``None`` when there is none."""
        return self.frame.index[-1].date() if len(self.frame) else None


class PriceCache:
    """The price files under ``<root>/prices``; ``root`` defaults to :func:`default_cache_dir`."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.folder = self.root / "prices"

    def path(self, ticker: str) -> Path:
        """The file of ``ticker``; always directly inside :attr:`folder`."""
        path = self.folder / cache_filename(ticker)
        if path.resolve().parent != self.folder.resolve():  # defence in depth
            raise ValueError(f"ticker {ticker!r} maps outside the cache folder {self.folder}")
        return path

    def tickers(self) -> list[str]:
        """Tickers with a cache file, sorted."""
        if not self.folder.is_dir():
            return []
        found = []
        for p in self.folder.glob("*.json"):
            try:
                found.append(ticker_from_filename(p.name))
            except ValueError:
                continue
        return sorted(found)

    def read(self, ticker: str) -> CacheEntry | None:
        """The cached entry, or ``None`` if there is none or it was corrupt (moved aside)."""
        ticker = validate_ticker(ticker)
        path = self.path(ticker)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.quarantine(path, f"unreadable: {exc}")
            return None
        try:
            return _decode(raw, ticker)
        except Exception as exc:  # any failure to decode means unusable: a
            # RecursionError from deep nesting, an OverflowError from 10**400 included)
            self.quarantine(path, f"{type(exc).__name__}: {exc}"[:300])
            return None

    def write(self, entry: CacheEntry) -> Path:
        """Write ``entry`` atomically (a temporary file in the folder, then a rename)."""
        path = self.path(entry.ticker)
        text = json.dumps(_encode(entry), separators=(",", ":"), allow_nan=False)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def quarantine(self, path: Path, reason: str) -> Path | None:
        """Move a bad cache file aside as ``<name>.corrupt-<UTC time>``; return the new path."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        try:
            path.rename(target)
        except OSError as exc:
            log.warning(
                "cache file %s is unusable (%s) and could not be moved: %s", path, reason, exc
            )
            return None
        log.warning(
            "cache file %s is unusable (%s); moved aside to %s; fetching again",
            path,
            reason,
            target.name,
        )
        return target


def _encode(entry: CacheEntry) -> dict:
    values = entry.frame.loc[:, list(PRICE_COLUMNS)].to_numpy(dtype=float)
    rows = values.tolist()
    if np.isnan(values).any():  # JSON has no NaN: missing values are null
        rows = [[None if v != v else v for v in row] for row in rows]
    return {
        "format": CACHE_FORMAT,
        "ticker": entry.ticker,
        "fetched_at": entry.fetched_at.astimezone(UTC).isoformat(),
        "start": entry.start.isoformat() if entry.start else None,
        "exchange_tz": entry.exchange_tz,
        "currency": entry.currency,
        "provider": "yahoo",
        "yfinance": _version("yfinance"),
        "auto_adjust": False,
        "content_hash": entry.content_hash,
        "columns": list(PRICE_COLUMNS),
        "dates": [d.strftime("%Y-%m-%d") for d in entry.frame.index],
        "values": rows,
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return None


def _decode(raw: bytes, ticker: str) -> CacheEntry:
    doc = json.loads(raw.decode("utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"not a JSON object but {type(doc).__name__}")
    if doc.get("format") != CACHE_FORMAT:
        raise ValueError(f"format is {doc.get('format')!r}, expected {CACHE_FORMAT}")
    if doc.get("ticker") != ticker:
        raise ValueError(f"holds ticker {doc.get('ticker')!r}, not {ticker!r}")
    if doc.get("columns") != list(PRICE_COLUMNS):
        raise ValueError(f"columns are {doc.get('columns')!r}, expected {list(PRICE_COLUMNS)}")
    dates = date_index(pd.to_datetime(doc["dates"], format="%Y-%m-%d"))
    values = np.array(doc["values"], dtype=float).reshape(-1, len(PRICE_COLUMNS))
    if len(values) != len(dates):
        raise ValueError(f"{len(dates)} dates but {len(values)} rows of values")
    if not (dates.is_unique and dates.is_monotonic_increasing):
        raise ValueError("dates are not unique and ascending")
    frame = pd.DataFrame(values, index=dates, columns=list(PRICE_COLUMNS))
    closes = frame[["Close", "Adj Close"]].to_numpy()
    if not (np.isfinite(closes) & (closes > 0)).all():
        raise ValueError("closes that are not positive finite numbers")
    fetched_at = datetime.fromisoformat(doc["fetched_at"])
    if fetched_at.tzinfo is None:
        raise ValueError(f"fetched_at has no timezone: {doc['fetched_at']!r}")
    if content_hash(frame) != doc["content_hash"]:
        raise ValueError(f"content hash mismatch (file says {doc['content_hash']!r})")
    return CacheEntry(
        ticker=ticker,
        frame=frame,
        fetched_at=fetched_at,
        start=date.fromisoformat(doc["start"]) if doc["start"] else None,
        exchange_tz=doc.get("exchange_tz"),
        currency=doc.get("currency"),
        content_hash=doc["content_hash"],
    )
