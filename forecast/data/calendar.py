"""Trading sessions from a maintained exchange calendar (``exchange_calendars``).

Forecast target dates are the next *sessions*, not the next weekdays: after Wednesday
2024-07-03 the next NYSE session is Friday 2024-07-05. The job also counts sessions to decide
when a model is due for a refit and asks which session has most recently closed.

The calendar is built over a fixed range (1900 to 2100, clipped to what the exchange's
calendar supports) rather than the package default, which is "20 years back and 1 year ahead
of today": a range that moves with the clock would make results depend on the day they are
computed.
"""

from __future__ import annotations

import functools
import warnings
from datetime import date, datetime, timedelta

import pandas as pd

#: sessions are looked up over this range (clipped to the calendar's own bounds)
CALENDAR_START = pd.Timestamp("1900-01-01")
CALENDAR_END = pd.Timestamp("2100-12-31")
#: a session counts as closed this long after the official close (late prints, auctions)
CLOSE_MARGIN = timedelta(minutes=30)


class TradingCalendar:
    """Sessions of one exchange, as plain :class:`datetime.date` values.

    Parameters
    ----------
    name
        An ``exchange_calendars`` code such as ``XNYS`` (NYSE), ``XLON`` or ``XTKS``.
    """

    def __init__(self, name: str = "XNYS") -> None:
        self.name = name
        self._cal = _build(name)
        self._sessions = pd.DatetimeIndex(self._cal.sessions)
        self.first_session = self._sessions[0].date()
        self.last_session = self._sessions[-1].date()

    def __repr__(self) -> str:
        return f"TradingCalendar({self.name!r})"

    def _ts(self, day: date | str | pd.Timestamp, what: str) -> pd.Timestamp:
        ts = pd.Timestamp(day).normalize()
        if ts.tzinfo is not None:
            ts = ts.tz_localize(None)
        if not self._sessions[0] <= ts <= self._sessions[-1]:
            raise ValueError(
                f"{what} must lie within the {self.name} calendar "
                f"({self.first_session}..{self.last_session}); got {ts.date()}"
            )
        return ts

    def is_session(self, day: date | str) -> bool:
        """Whether ``day`` is a trading session (not a weekend or an exchange holiday)."""
        return bool(self._ts(day, "date") in self._sessions)

    def previous_session(self, day: date | str) -> date:
        """The last session on or before ``day``."""
        ts = self._ts(day, "date")
        pos = self._sessions.searchsorted(ts, side="right") - 1
        if pos < 0:
            raise ValueError(f"no {self.name} session on or before {ts.date()}")
        return self._sessions[pos].date()

    def next_sessions(self, day: date | str, count: int) -> list[date]:
        """The ``count`` sessions strictly after ``day``, oldest first."""
        ts = self._ts(day, "date")
        pos = self._sessions.searchsorted(ts, side="right")
        out = self._sessions[pos : pos + count]
        if len(out) < count:
            raise ValueError(
                f"the {self.name} calendar ends at {self.last_session}: fewer than {count} "
                f"sessions after {ts.date()}"
            )
        return [d.date() for d in out]

    def sessions(self, start: date | str, end: date | str) -> pd.DatetimeIndex:
        """The sessions from ``start`` to ``end`` (both inclusive) as midnight timestamps."""
        a, b = self._ts(start, "start"), self._ts(end, "end")
        return self._sessions[(self._sessions >= a) & (self._sessions <= b)]

    def sessions_between(self, start: date | str, end: date | str) -> int:
        """How many sessions lie in ``(start, end]`` (0 when ``end <= start``)."""
        a, b = self._ts(start, "start"), self._ts(end, "end")
        if b <= a:
            return 0
        return int(
            self._sessions.searchsorted(b, side="right")
            - self._sessions.searchsorted(a, side="right")
        )

    def last_closed_session(self, now: datetime) -> date:
        """The latest session whose close (plus :data:`CLOSE_MARGIN`) is at or before ``now``.

        ``now`` must be timezone-aware. This is the only place the clock enters the job, and
        only when the caller gives no explicit as-of date.
        """
        if now.tzinfo is None:
            raise ValueError(f"now must be timezone-aware; got naive {now.isoformat()}")
        now_utc = pd.Timestamp(now).tz_convert("UTC")
        candidate = self.previous_session(now_utc.tz_convert(self._cal.tz).date())
        close = self._cal.session_close(pd.Timestamp(candidate))
        if close + CLOSE_MARGIN > now_utc:  # today's session has not closed yet
            pos = self._sessions.searchsorted(pd.Timestamp(candidate)) - 1
            candidate = self._sessions[pos].date()
        return candidate


@functools.lru_cache(maxsize=8)
def _build(name: str):
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange_calendars 4.13 trips pandas 3.1 deprecations while it builds: not our
        # code, nothing a user can act on, and it would print on every run
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            cls = type(xcals.get_calendar(name))
        except xcals.errors.InvalidCalendarName:
            raise ValueError(
                f"calendar must be an exchange_calendars code such as 'XNYS'; got {name!r}"
            ) from None
        start = max(CALENDAR_START, cls.bound_min() or CALENDAR_START)
        end = min(CALENDAR_END, cls.bound_max() or CALENDAR_END)
        return xcals.get_calendar(name, start=start, end=end)


@functools.lru_cache(maxsize=8)
def get_calendar(name: str = "XNYS") -> TradingCalendar:
    """A shared :class:`TradingCalendar` for ``name`` (built once per process, ~0.3 s)."""
    return TradingCalendar(name)
