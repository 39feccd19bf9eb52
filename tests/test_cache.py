"""The price cache: safe unique file names, atomic writes, corruption moved aside; tickers."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_yahoo import embedded_frame
from hypothesis import given
from hypothesis import strategies as st

from forecast.data.cache import (
    CacheEntry,
    PriceCache,
    cache_filename,
    content_hash,
    default_cache_dir,
    ticker_from_filename,
)
from forecast.data.tickers import validate_ticker

FETCHED = datetime(2013, 3, 1, 22, 0, tzinfo=UTC)
FRAME = embedded_frame("IBM").loc["2013-01":]

REJECTED = [
    ("../x", "bad characters: '/'"),
    ("a/b", "bad characters: '/'"),
    ("..\\x", r"bad characters: '\\\\'"),
    ("C:x", "bad characters: ':'"),
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    ("AB\x00C", "bad characters"),
    ("A\nB", "bad characters"),
    ("\tAAPL", "bad characters"),
    ("AAPL\r", "bad characters"),
    ("X" * 16, "at most 15 characters; got 16"),
    ("...", "must hold a letter or digit"),
    ("^", "must hold a letter or digit"),
    ("ΑAPL", "bad characters: 'Α'"),  # Greek capital alpha, a homoglyph
    ("ＡＡＰＬ", "bad characters"),  # full width: refused, not silently folded
    ("straße", "bad characters: 'ß'"),  # upper() would turn it into STRASSE
    ("AAPL;rm", "bad characters: ';'"),
    ("US0378331005", "looks like an ISIN, and ISINs are not supported"),
    ("us0378331005", "looks like an ISIN"),
    (None, "must be a string; got NoneType"),
]
ACCEPTED = ["BRK-B", "^GSPC", "EURUSD=X", "GC=F", "0700.HK", "M&M.NS", "CON", "prn", " aapl "]


@pytest.mark.parametrize(("ticker", "message"), REJECTED)
def test_rejected_tickers_name_the_rule_and_reach_no_file(tmp_path, ticker, message):
    with pytest.raises(ValueError, match=message):
        validate_ticker(ticker)
    with pytest.raises(ValueError, match=message):
        PriceCache(tmp_path).path(ticker)
    with pytest.raises(ValueError, match=message):
        PriceCache(tmp_path).read(ticker)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ticker", ACCEPTED)
def test_accepted_tickers_are_upper_cased(ticker):
    assert validate_ticker(ticker) == ticker.strip().upper()


@pytest.mark.parametrize(
    ("ticker", "name"),
    [
        ("AAPL", "AAPL.json"),
        ("BRK-B", "BRK-B.json"),
        ("^GSPC", "_5EGSPC.json"),
        ("EURUSD=X", "EURUSD_3DX.json"),
        ("M&M.NS", "M_26M_2ENS.json"),
        ("CON", "CON_.json"),
        ("com1", "COM1_.json"),
        ("LPT9", "LPT9_.json"),
        ("NUL.X", "NUL_2EX.json"),
        ("..A", "_2E_2EA.json"),
    ],
)
def test_cache_file_names(ticker, name):
    assert cache_filename(ticker) == name
    assert ticker_from_filename(name) == validate_ticker(ticker)


TICKER_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-^=&"
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", "CLOCK$"} | {
    f"{d}{i}" for d in ("COM", "LPT") for i in range(10)
}


@given(st.text(alphabet=TICKER_CHARS, min_size=1, max_size=15))
def test_file_names_are_safe_and_reversible_for_any_valid_ticker(text):
    try:
        ticker = validate_ticker(text)
    except ValueError:
        return  # no letter or digit, or ISIN-like: refused before any file name
    name = cache_filename(ticker)
    assert re.fullmatch(r"[A-Z0-9_\-]+\.json", name)
    assert name.split(".")[0] not in WINDOWS_DEVICES
    assert ticker_from_filename(name) == ticker  # reversible, hence unique


@pytest.mark.parametrize("name", ["AAPL.txt", "aapl.json", "CON.json", "_ZZ.json", "A_5.json"])
def test_names_that_no_ticker_maps_to_are_refused(name):
    with pytest.raises(ValueError):
        ticker_from_filename(name)


def entry(ticker="IBM", frame=FRAME, **kw):
    return CacheEntry(ticker, frame, FETCHED, **kw)


def test_write_then_read_round_trips_exactly(tmp_path):
    frame = FRAME.copy()
    frame.iloc[0, 0] = np.nan  # a missing Open
    frame.iloc[1, 5] = np.nan  # a missing Volume
    store = PriceCache(tmp_path)
    path = store.write(entry(frame=frame, start=date(2013, 1, 2), exchange_tz="America/New_York"))
    assert path == tmp_path / "prices" / "IBM.json"
    back = store.read("ibm")
    pd.testing.assert_frame_equal(back.frame, frame, check_freq=False)
    assert back.fetched_at == FETCHED and back.start == date(2013, 1, 2)
    assert back.exchange_tz == "America/New_York" and back.content_hash == content_hash(frame)
    doc = json.loads(path.read_text())
    assert doc["values"][0][0] is None and doc["content_hash"].startswith("sha256:")
    assert doc["auto_adjust"] is False and doc["fetched_at"] == "2013-03-01T22:00:00+00:00"


def test_content_hash_tracks_every_value_and_date():
    h = content_hash(FRAME)
    assert content_hash(FRAME.copy()) == h
    changed = FRAME.copy()
    changed.iloc[3, 4] *= 1 + 1e-12
    assert content_hash(changed) != h
    shifted = FRAME.copy()
    shifted.index = shifted.index + pd.Timedelta(days=1)
    assert content_hash(shifted) != h


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    store = PriceCache(tmp_path)
    path = store.write(entry())
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        store.write(entry(frame=FRAME.iloc[:-1]))
    assert path.read_bytes() == before
    assert sorted(p.name for p in store.folder.iterdir()) == ["IBM.json"]


def _flip_a_value(text: str) -> str:
    doc = json.loads(text)
    doc["values"][2][3] += 0.01
    return json.dumps(doc)


def _set_value(value):
    def apply(text: str) -> str:
        doc = json.loads(text)
        doc["values"][0][3] = value
        return json.dumps(doc)

    return apply


def _other_ticker(text: str) -> str:
    doc = json.loads(text)
    doc["ticker"] = "MSFT"
    return json.dumps(doc)


def _edit(key, value):
    def apply(text: str) -> str:
        doc = json.loads(text)
        doc[key] = value
        return json.dumps(doc)

    return apply


CORRUPTIONS = {
    "empty": (lambda t: "", "Expecting value"),
    "truncated": (lambda t: t[: len(t) // 2], "Unterminated|Expecting"),
    "random bytes": (lambda t: "\x00\xff\xfe garbage", "Expecting value|codec"),
    "flipped value": (_flip_a_value, "content hash mismatch"),
    "another ticker's file": (_other_ticker, "holds ticker 'MSFT', not 'IBM'"),
    "wrong columns": (_edit("columns", ["Close"]), "columns are \\['Close'\\]"),
    "future format": (_edit("format", 2), "format is 2, expected 1"),
    "not an object": (lambda t: "[1, 2]", "not a JSON object but list"),
    "missing dates": (_edit("dates", ["2013-01-02"]), "1 dates but"),
    "naive fetch time": (_edit("fetched_at", "2013-03-01T22:00:00"), "fetched_at has no timezone"),
    "negative close": (_set_value(-5.0), "closes that are not positive finite"),
    "extra row": (lambda t: t.replace('"values":[[', '"values":[[1,1,1,1,1,1],[', 1), "rows of"),
    # found by fault injection (issue 13): these escaped the reader with a traceback
    "deep nesting": (lambda t: '{"a":' + "[" * 100_000 + "]" * 100_000 + "}", "RecursionError"),
    "integer 10**400": (_set_value(10**400), "OverflowError"),
    "integer of 5000 digits": (
        lambda t: t.replace('"values":[[', '"values":[[' + "9" * 5000 + ",", 1),
        "ValueError",
    ),
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_corrupt_file_is_moved_aside_and_reads_as_absent(tmp_path, caplog, kind):
    corrupt, reason = CORRUPTIONS[kind]
    store = PriceCache(tmp_path)
    path = store.write(entry())
    bad = corrupt(path.read_text())
    path_bytes = bad.encode("latin-1") if kind == "random bytes" else bad.encode()
    path.write_bytes(path_bytes)
    assert store.read("IBM") is None
    assert not path.exists()
    aside = list(store.folder.glob("IBM.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == path_bytes
    assert "is unusable" in caplog.text and re.search(reason, caplog.text)
    store.write(entry())  # and the ticker can be cached again
    assert store.read("IBM") is not None


def test_a_directory_in_place_of_the_file_is_moved_aside(tmp_path):
    store = PriceCache(tmp_path)
    store.path("IBM").mkdir(parents=True)
    assert store.read("IBM") is None and not store.path("IBM").exists()


def test_tickers_lists_the_cached_ones(tmp_path):
    store = PriceCache(tmp_path)
    assert store.tickers() == []
    for t in ("^GSPC", "CON", "IBM"):
        store.write(entry(ticker=validate_ticker(t)))
    (store.folder / ".IBM.abc.tmp").write_text("partial")
    (store.folder / "IBM.json.corrupt-20130301T000000Z").write_text("x")
    assert store.tickers() == ["CON", "IBM", "^GSPC"]


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    assert PriceCache().folder == tmp_path / "c" / "prices"
    monkeypatch.delenv("FORECAST_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "forecast"
    assert isinstance(default_cache_dir(), Path)
