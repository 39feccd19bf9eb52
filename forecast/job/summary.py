"""What a run of the scheduled job reports: its as-of rule, summaries and exit codes.

Exit codes of :func:`forecast.job.runner.run_job` (and ``forecast run``): 0 everything stored or
nothing new to do, 3 partial (some tickers or models failed, the rest stored), 1 nothing
could be done, 75 another run holds the store's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from forecast.store.rows import TickerResult

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
#: every ticker stored, but some from stale prices (Yahoo could not be reached)
EXIT_STALE = 4
#: another run holds the store's lock (sysexits' EX_TEMPFAIL: "try again later")
EXIT_LOCKED = 75


@dataclass(frozen=True)
class AsOf:
    """The as-of rule of one run.

    ``day`` is the session forecast from (``strict``: given by the user, every ticker needs
    a price on it) or the upper bound of the prices read (the last closed session online;
    ``None`` offline, where each ticker's latest price is its as-of).
    """

    day: date | None
    strict: bool

    @property
    def text(self) -> str | None:
        """``day`` as ``YYYY-MM-DD`` (or ``None``)."""
        return self.day.isoformat() if self.day else None


@dataclass
class RunSummary:
    """The outcome of :func:`run_job`, for the command line and ``--json``."""

    status: str
    exit_code: int
    message: str
    as_of: str | None = None
    run_id: int | None = None
    store: str | None = None
    seconds: float = 0.0
    tickers: list[dict] = field(default_factory=list)
    #: the live scorecard's refresh (rows, changes, seconds); None: unchanged or failed
    scorecard: dict | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def ticker_summary(r: TickerResult, seconds: float) -> dict:
    """One ticker's line of the run summary (and of ``--json``)."""
    refit = list(dict.fromkeys(v.model for v in r.versions if v.target == "price"))
    forecast_models = list(dict.fromkeys(f.model for f in r.forecasts))
    loaded = [m for m in forecast_models if m not in refit]
    calibrated = list(dict.fromkeys(c.model for c in r.calibration))
    failed = {_failed_key(f): f["error"] for f in r.failures}
    if r.status == "failed" and not r.message:
        r.message = "; ".join(f"{m}: {e}" for m, e in failed.items())
    return {
        "ticker": r.ticker,
        "as_of": r.as_of,
        "status": r.status,
        "stale": r.stale,
        "forecasts": len(r.forecasts),
        "scores": len(r.scores),
        "refit": refit,
        "loaded": loaded,
        "calibrated": calibrated,
        "intervals": sum(f.lower is not None for f in r.forecasts),
        "failed": failed,
        "events": [{"model": m, "kind": k, "message": msg} for m, k, msg in r.events],
        "source": r.source,
        "message": r.message,
        "seconds": round(seconds, 3),
        "volatility": _volatility_summary(r),
    }


def _failed_key(failure: dict) -> str:
    """The model a failure names (``*``: the ticker), ``volatility:`` before a volatility one."""
    model = failure["model"] or "*"
    stage = str(failure.get("stage") or "")
    return f"volatility:{model}" if stage.startswith("volatility") else model


def _volatility_summary(r: TickerResult) -> dict:
    """The ticker's volatility forecasts: how many, scored, and which models were refit."""
    refit = list(dict.fromkeys(v.model for v in r.versions if v.target == "volatility"))
    models = list(dict.fromkeys(f.model for f in r.volatility_forecasts))
    return {
        "forecasts": len(r.volatility_forecasts),
        "scores": len(r.volatility_scores),
        "refit": refit,
        "loaded": [m for m in models if m not in refit],
    }


def run_outcome(tickers: list[dict], rule: AsOf) -> tuple[str, int, str]:
    """The run's status, exit code and message from its tickers' summaries."""
    n = len(tickers)
    failed = [t for t in tickers if t["status"] == "failed"]
    partial = [t for t in tickers if t["status"] == "partial"]
    stale = [t for t in tickers if t["stale"] and t["status"] != "failed"]
    fresh = [t for t in tickers if t["status"] in ("stored", "partial")]
    if failed and len(failed) == n:
        return "failed", EXIT_FAILURE, f"all {n} tickers failed: nothing stored"
    names = ", ".join(t["ticker"] for t in stale)
    if failed or partial:
        return (
            "partial",
            EXIT_PARTIAL,
            f"{n - len(failed)} of {n} tickers stored; {len(partial)} with failed models, "
            f"{len(stale)} with stale prices{f' ({names})' if stale else ''}, "
            f"{len(failed)} failed",
        )
    if stale:  # stored in the store as a partial run; its own exit code for cron
        return (
            "partial",
            EXIT_STALE,
            f"{n} tickers stored, {len(stale)} from stale prices (Yahoo Finance could not be "
            f"reached): {names}",
        )
    if not fresh:
        if rule.strict:
            when = f"as of {rule.day}"
        else:
            bound = f" (last closed session {rule.day})" if rule.day else ""
            when = f"for each ticker's latest price{bound}"
        return "nothing_to_do", EXIT_OK, f"no new session: forecasts {when} already stored"
    return "succeeded", EXIT_OK, f"{n} tickers stored"
