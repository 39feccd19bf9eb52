"""Ticker symbols: the check every ticker passes before it reaches a file name or the network."""

from __future__ import annotations

import re

_TICKER_CHAR_RE = re.compile(r"[A-Z0-9.\-^=&]")
_ISIN_RE = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")  # yfinance's own ISIN test


def validate_ticker(ticker: object) -> str:
    """Return the normalised (upper-case) ticker or raise ``ValueError``.

    Allowed: ASCII letters, digits and ``. - ^ = &``, 1 to 15 characters after stripping
    spaces (``BRK-B``, ``^GSPC``, ``EURUSD=X``). Anything else, path separators, control
    characters and non-ASCII letters included, is refused before it can reach the network or
    a file name. ISIN-like codes (``US0378331005``) are refused too: yfinance would silently
    resolve them over the network.
    """
    if not isinstance(ticker, str):
        raise ValueError(f"ticker must be a string; got {type(ticker).__name__} {ticker!r}")
    text = ticker.strip(" ")
    if not text:
        raise ValueError(f"ticker must not be empty; got {ticker!r}")
    if len(text) > 15:
        raise ValueError(f"ticker must be at most 15 characters; got {len(text)}: {ticker!r}")
    bad = sorted({c for c in text if not (c.isascii() and _TICKER_CHAR_RE.fullmatch(c.upper()))})
    if bad:
        raise ValueError(
            f"ticker may hold only letters, digits and . - ^ = &; got {ticker!r} "
            f"(bad characters: {''.join(bad)!r})"
        )
    norm = text.upper()
    if not any(c.isalnum() for c in norm):
        raise ValueError(f"ticker must hold a letter or digit; got {ticker!r}")
    if _ISIN_RE.fullmatch(norm):
        raise ValueError(
            f"ticker looks like an ISIN, and ISINs are not supported (yfinance would look it "
            f"up over the network); give the exchange ticker instead; got {ticker!r}"
        )
    return norm
