"""The interval section's sentences: the headline, from the numbers of :mod:`.intervals`.

Every number a sentence states is in one of the section's tables.
"""

from __future__ import annotations

from forecast.report.intervals import (
    BASELINE,
    TEST_ALPHA,
    VARIANT_NAMES,
    VARIANT_SHORT,
    CoverageNumbers,
    band_side,
    keyed,
    pct,
    percent_level,
)


def headline(numbers: CoverageNumbers, n_series: int) -> list[str]:
    """The section's sentences: the chosen intervals' coverage and whether they are
    calibrated in both halves, the band, the other variants, the halves' gap, the tests.

    The first sentence is the lead.
    """
    s = numbers.settings
    horizons = sorted({int(h) for h in numbers.overall["horizon"]})
    chosen = s.method if s.method in s.variants else s.variants[0]
    cov = _coverage_lookup(numbers)
    n_models = numbers.pooled["model"].nunique()
    covered = [
        _at(cov, chosen, h, what=" of the outcomes" * (i == 0)) for i, h in enumerate(horizons)
    ]
    lines = [
        f"{percent_level(s.level)} intervals by {VARIANT_NAMES[chosen]}, this run's method, "
        f"covered {' and '.join(covered)}"
        + f", over {n_models} model{'s' * (n_models != 1)} and {n_series} series pooled: "
        + _calibrated(numbers, chosen, horizons, cov)
        + "."
    ]
    lines += _band_lines(numbers, chosen, horizons)
    others = [
        f"{VARIANT_NAMES[v]} covered " + " and ".join(_at(cov, v, h, "") for h in horizons)
        for v in s.shown
        if v != chosen
    ]
    if others:
        lines.append(f"For comparison, {'; '.join(others)}.")
    other = BASELINE if chosen != BASELINE else "conformal"
    if other in s.variants and chosen != "model":
        gaps = []
        for h in horizons:
            g = {v: cov(v, h, "calm") - cov(v, h, "turbulent") for v in (chosen, other)}
            gaps.append(
                f"{100 * g[chosen]:.1f} points with {VARIANT_SHORT[chosen]} against "
                f"{100 * g[other]:.1f} with {VARIANT_SHORT[other]} at h={h}"
            )
        lines.append(f"Calm minus turbulent coverage: {'; '.join(gaps)}.")
    lines += _test_lines(numbers, chosen, horizons[0])
    return lines


def _calibrated(numbers: CoverageNumbers, chosen: str, horizons: list[int], cov) -> str:
    s = numbers.settings
    lo, hi = s.band
    band = f"{percent_level(lo)} to {percent_level(hi)}"
    if numbers.calibrated_in_both_halves(chosen):
        return f"calibrated in both halves (each inside {band} at every horizon)"
    outside = [
        f"the {part} half at h={h} ({pct(cov(chosen, h, part))})"
        for h in horizons
        for part in ("calm", "turbulent")
        if band_side(cov(chosen, h, part), s.level) != 0
    ]
    return f"not calibrated in both halves (outside {band}: {', '.join(outside)})"


def _test_lines(numbers: CoverageNumbers, chosen: str, h: int) -> list[str]:
    """Christoffersen's independence and Kupiec's tests of the chosen variant at the first
    horizon, against unscaled ACI."""
    rows = keyed(numbers.compared, ["horizon", "variant"])
    mine = rows.get((h, chosen))
    if mine is None or not mine["pairs"]:
        return []
    pairs = int(mine["pairs"])
    text = (
        f"Misses of the chosen intervals at h={h}: Christoffersen's independence test finds "
        f"no clustering (p > {TEST_ALPHA:g}) for {_share(mine['ind_pass'], pairs)} "
        f"series-model pairs, Kupiec's test no wrong miss rate for "
        f"{_share(mine['kupiec_pass'], pairs)}, the conditional-coverage test neither for "
        f"{_share(mine['cc_pass'], pairs)}"
    )
    base = rows.get((h, BASELINE))
    if base is not None and chosen != BASELINE and base["pairs"]:
        text += (
            f" (unscaled ACI: {_share(base['ind_pass'], int(base['pairs']))}, "
            f"{_share(base['kupiec_pass'], int(base['pairs']))} and "
            f"{_share(base['cc_pass'], int(base['pairs']))})"
        )
    return [text + "."]


def _share(rate: float, pairs: int) -> str:
    return f"{round(rate * pairs)} of {pairs}"


def _coverage_lookup(numbers: CoverageNumbers):
    """``cov(variant, h, regime)``: the pooled coverage of one cell (NaN when absent)."""
    by_key = keyed(numbers.overall, ["horizon", "variant", "regime"])

    def cov(variant: str, h: int, regime: str = "all") -> float:
        row = by_key.get((h, variant, regime))
        return float(row["coverage"]) if row is not None else float("nan")

    return cov


def _at(cov, variant: str, h: int, word: str = " half", what: str = "") -> str:
    return (
        f"{pct(cov(variant, h))}{what} at h={h} (calm{word} {pct(cov(variant, h, 'calm'))}, "
        f"turbulent{word} {pct(cov(variant, h, 'turbulent'))})"
    )


def _band_lines(numbers: CoverageNumbers, chosen: str, horizons: list[int]) -> list[str]:
    """How many coverages of the chosen variant fall inside the band, pooled, per series and
    per regime."""
    s = numbers.settings
    lo, hi = s.band
    pooled = numbers.pooled[(numbers.pooled["variant"] == chosen)]
    whole = pooled[pooled["regime"] == "all"]
    outside = [r for r in whole.itertuples() if band_side(r.coverage, s.level)]
    band = f"{percent_level(lo)} to {percent_level(hi)}"
    if not outside:
        lines = [
            f"Every model's coverage (series pooled) is inside the band of {band} at "
            f"{_horizons(horizons)}."
        ]
    else:
        listed = "; ".join(f"{r.model} h={r.horizon}: {pct(r.coverage)}" for r in outside)
        lines = [
            f"{len(whole) - len(outside)} of {len(whole)} model-horizon coverages (series "
            f"pooled) are inside the band of {band}; outside: {listed}."
        ]
    per = numbers.per_series
    per = per[(per["variant"] == chosen) & (per["regime"] == "all")]
    inside = sum(band_side(c, s.level) == 0 for c in per["coverage"])
    lines.append(
        f"Per series, {inside} of {len(per)} series-model-horizon coverages are inside the band."
    )
    turbulent = pooled[pooled["regime"] == "turbulent"]
    low = int(sum(band_side(c, s.level) < 0 for c in turbulent["coverage"]))
    calm = pooled[pooled["regime"] == "calm"]
    high = int(sum(band_side(c, s.level) > 0 for c in calm["coverage"]))
    lines.append(
        f"In the turbulent halves the intervals are too narrow for {low} of {len(turbulent)} "
        f"model-horizon pairs (below {percent_level(lo)}); in the calm halves too wide for "
        f"{high} of {len(calm)} (above {percent_level(hi)})."
    )
    return lines


def _horizons(horizons: list[int]) -> str:
    return " and ".join(f"h={h}" for h in horizons)
