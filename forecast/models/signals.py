"""The classic cross-sectional signals as forecasters: short-term reversal and 12-1 momentum.

They exist as the ranking baselines of the cross-sectional test (which stocks will beat the
others tomorrow?): what matters there is the *order* of the forecasts across stocks on a day,
and these two orders are the ones the literature's anomalies are built from. Their price
forecasts are deliberately literal and make poor price forecasts; judge them by their rank
information coefficient, not their RMSE.

``reversal`` (Jegadeesh 1990, "Evidence of predictable behavior of security returns",
*Journal of Finance* 45(3); Lehmann 1990): last session's loser wins. The forecast log return
of the next session is minus the last one, ``-r_T``, and 0 after it.

``momentum`` (Jegadeesh and Titman 1993, "Returns to buying winners and selling losers",
*Journal of Finance* 48(1), the 12-1 variant of Fama and French): the log return from
``lookback`` sessions ago (12 months, 252) to ``skip`` sessions ago (1 month, 21, skipped
because of the short-term reversal), spread evenly: each future session is forecast to
return ``(y_{T-skip} - y_{T-lookback}) / (lookback - skip)``.

Both read only the prices up to the origin and learn nothing: ``fit`` only checks the length.
"""

from __future__ import annotations

import numpy as np

from forecast.checks import check_int
from forecast.models.base import BaseForecaster


class ReversalForecaster(BaseForecaster):
    """Short-term reversal: next session's log return is minus the last one (see the module)."""

    name = "reversal"

    def min_history_size(self) -> int:
        return 2

    def _fit(self, y: np.ndarray) -> None:
        self.last_return_ = float(y[-1] - y[-2])

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        return self.forecast_log_paths(y, np.array([len(y)]), horizon)[0]

    def forecast_log_paths(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        self._check_fitted()
        ends = np.asarray(ends, dtype=int)
        self._check_ends(ends)
        back = y[ends - 2]  # minus the last return: back to the previous session's level
        return np.repeat(back[:, None], horizon, axis=1)


class MomentumForecaster(BaseForecaster):
    """12-1 momentum: the past year's return but the last month, spread over future sessions.

    Parameters
    ----------
    lookback
        Sessions back to the start of the measured return (252: a year).
    skip
        The most recent sessions left out (21: a month); ``0 <= skip < lookback``.
    """

    name = "momentum"

    def __init__(self, lookback: int = 252, skip: int = 21):
        self.lookback = lookback
        self.skip = skip

    def min_train_size(self) -> int:
        return int(self.lookback) + 1

    def min_history_size(self) -> int:
        return int(self.lookback) + 1

    def _fit(self, y: np.ndarray) -> None:
        check_int(self.lookback, "lookback", 2, type_error=True)
        check_int(self.skip, "skip", 0, int(self.lookback) - 1, type_error=True)
        self.rate_ = float(self._rates(y, np.array([len(y)]))[0])

    def _rates(self, y: np.ndarray, ends: np.ndarray) -> np.ndarray:
        span = self.lookback - self.skip
        return (y[ends - 1 - self.skip] - y[ends - 1 - self.lookback]) / span

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        return self.forecast_log_paths(y, np.array([len(y)]), horizon)[0]

    def forecast_log_paths(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        self._check_fitted()
        ends = np.asarray(ends, dtype=int)
        self._check_ends(ends)
        steps = np.arange(1, horizon + 1)
        return y[ends - 1][:, None] + self._rates(y, ends)[:, None] * steps[None, :]
