"""Alerts for cron: the scorecard changes worth a message, each reported once.

Worth a message: a model has become significantly *worse* than the random walk (its loss
difference sequence lies above 0), or an interval's coverage has left its band (the hit-rate
sequence lies wholly below or above the nominal level). A model becoming *better* is good
news for the report, not a reason to wake anyone. "New" is decided either from the dates
the statuses began (``decided_on``: a nightly job reports the statuses that began on
tonight's session) or against the previous check's table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.errors import ConfigError
from forecast.evaluation.monitoring import KEYS, SEQUENTIAL_COLUMNS

__all__ = ["ALERT_COLUMNS", "format_alerts", "sequential_alerts"]

ALERT_COLUMNS = [*KEYS, "kind", "since", "estimate", "lower", "upper", "message"]


def sequential_alerts(
    table: pd.DataFrame, since: object = None, previous: pd.DataFrame | None = None
) -> pd.DataFrame:
    """What is new and worth a message in a scorecard's sequential table.

    Parameters
    ----------
    table
        :func:`forecast.evaluation.monitoring.sequential_table` now.
    since
        Without ``previous``: report statuses that began on or after this target date
        (default: the newest ``last_target`` in ``table``, tonight's session, so a nightly
        cron job reports each change once). Pass the date of the last check to catch a
        ticker scored a day late.
    previous
        The table of the previous check: report the alerting statuses that it did not have
        (groups new since then included). ``since`` is then ignored.

    Returns
    -------
    pd.DataFrame
        :data:`ALERT_COLUMNS`, one row per alert: ``kind`` ``worse``, ``coverage below`` or
        ``coverage above``; ``since`` the target date the status began; the estimate
        (mean loss difference or hit rate) and its confidence sequence; a one-line
        ``message``. Empty when there is nothing new.
    """
    for name, frame in (("table", table), ("previous", previous)):
        missing = [] if frame is None else [c for c in SEQUENTIAL_COLUMNS if c not in frame]
        if missing:
            raise ConfigError(f"{name} must have columns {missing}; got {list(frame)}")
    worse = np.array(table["status"] == "worse", dtype=bool)
    off = np.array(table["coverage_status"].isin(["below", "above"]), dtype=bool)
    if previous is not None:
        cols = [*KEYS, "status", "coverage_status"]
        before = table[KEYS].merge(previous[cols], on=KEYS, how="left")
        worse &= (before["status"] != "worse").to_numpy(bool)
        off &= (before["coverage_status"] != table["coverage_status"]).to_numpy(bool)
    else:
        if since is None and len(table):
            since = table["last_target"].max()
        worse &= _on_or_after(table["decided_on"], since)
        off &= _on_or_after(table["coverage_decided_on"], since)
    return _alert_frame(table[worse], table[off])


def format_alerts(alerts: pd.DataFrame) -> str:
    """One line per alert; the empty string when there is none (cron then sends no mail)."""
    return "\n".join(alerts["message"])


def _alert_frame(worse: pd.DataFrame, off: pd.DataFrame) -> pd.DataFrame:
    w = worse[KEYS].assign(
        kind="worse",
        since=worse["decided_on"],
        estimate=worse["mean_diff"],
        lower=worse["diff_lower"],
        upper=worse["diff_upper"],
        message=[
            f"{r.ticker} {r.model} h={r.horizon}: worse than the random walk since "
            f"{r.decided_on} (mean squared log error difference {r.mean_diff:.3g}, 95% "
            f"confidence sequence [{r.diff_lower:.3g}, {r.diff_upper:.3g}], "
            f"{r.n_diff} forecasts)"
            for r in worse.itertuples()
        ],
    )
    c = off[KEYS].assign(
        kind="coverage " + off["coverage_status"].astype(str),
        since=off["coverage_decided_on"],
        estimate=off["hit_rate"],
        lower=off["hit_lower"],
        upper=off["hit_upper"],
        message=[
            f"{r.ticker} {r.model} h={r.horizon}: interval coverage {r.coverage_status} its "
            f"{r.level:.0%} level since {r.coverage_decided_on} (hit rate {r.hit_rate:.1%}, "
            f"95% confidence sequence [{r.hit_lower:.1%}, {r.hit_upper:.1%}], "
            f"{r.n_hits} intervals)"
            for r in off.itertuples()
        ],
    )
    parts = [p for p in (w, c) if len(p)]
    if not parts:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values([*KEYS, "kind"], kind="stable").reset_index(drop=True)[ALERT_COLUMNS]


def _on_or_after(dates: pd.Series, since: object) -> pd.Series:
    if since is None:
        return np.zeros(len(dates), dtype=bool)
    d = pd.to_datetime(dates, errors="coerce")
    return (d >= pd.Timestamp(since)).to_numpy(bool)
