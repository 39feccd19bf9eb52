"""Trading sessions come from the exchange calendar: holidays are skipped, not weekdays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from forecast.data.calendar import TradingCalendar, get_calendar


@pytest.fixture(scope="module")
def nyse() -> TradingCalendar:
    return get_calendar("XNYS")


def test_next_sessions_skip_holidays_and_weekends(nyse):
    # 2024-07-04 (Independence Day) and the weekend are not sessions
    assert nyse.next_sessions("2024-07-03", 3) == [
        date(2024, 7, 5),
        date(2024, 7, 8),
        date(2024, 7, 9),
    ]
    # Good Friday 2013-03-29 is an NYSE holiday, not a weekday to forecast
    assert date(2013, 3, 29) not in nyse.next_sessions("2013-03-27", 5)


def test_is_session_and_previous_session(nyse):
    assert nyse.is_session("2024-07-03")
    assert not nyse.is_session("2024-07-04")
    assert not nyse.is_session(date(2024, 7, 6))
    assert nyse.previous_session("2024-07-07") == date(2024, 7, 5)
    assert nyse.previous_session("2024-07-05") == date(2024, 7, 5)


def test_sessions_between_counts_half_open_interval(nyse):
    assert nyse.sessions_between("2024-07-01", "2024-07-08") == 4  # 2, 3, 5, 8
    assert nyse.sessions_between("2024-07-08", "2024-07-01") == 0
    assert nyse.sessions_between("2024-07-05", "2024-07-05") == 0


def test_last_closed_session_follows_the_close(nyse):
    new_york = timezone(timedelta(hours=-4))
    before_close = datetime(2024, 7, 5, 16, 10, tzinfo=new_york)
    after_close = datetime(2024, 7, 5, 16, 40, tzinfo=new_york)
    assert nyse.last_closed_session(before_close) == date(2024, 7, 3)
    assert nyse.last_closed_session(after_close) == date(2024, 7, 5)
    assert nyse.last_closed_session(datetime(2024, 7, 6, 12, tzinfo=UTC)) == date(2024, 7, 5)
    # the 2024-07-03 early close (13:00 New York) counts from 13:30
    assert nyse.last_closed_session(datetime(2024, 7, 3, 13, 40, tzinfo=new_york)) == date(
        2024, 7, 3
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        nyse.last_closed_session(datetime(2024, 7, 6, 12))


def test_bad_calendar_and_out_of_range_dates(nyse):
    with pytest.raises(ValueError, match=r"calendar must be an exchange_calendars code .*'XXXX'"):
        get_calendar("XXXX")
    with pytest.raises(ValueError, match=r"date must lie within the XNYS calendar"):
        nyse.is_session("1800-01-01")
    with pytest.raises(ValueError, match=r"fewer than 5 sessions"):
        nyse.next_sessions(nyse.last_session, 5)
