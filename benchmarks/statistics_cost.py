"""What the verdict statistics and the economic value add to a real ``forecast compare``.

Reads a run folder written by ``forecast compare`` (the default config: 11 models x 5 series x
horizons 1 and 5 x 250 origins) and times, on its own ``forecasts.csv`` and ``metrics.csv``,
exactly what the engine runs once per run (:func:`forecast.walkforward.scoring.score_run`):

- the verdicts (Clark-West, R²_OS, MCS, SPA, StepM with 1000 replications, the pooled answer),
- the economic value (3 rules with the volatility forecast from the run's intervals, costs 0,
  5 and 10 bp, the DSR and the PBO with 16 blocks, the equity curves),
- the report's new pieces (the verdict table and headline, the economic section, the equity
  figure),

``--repeat`` times each, interleaved, and prints the median and the spread beside the run's
own wall time (``run.json``'s ``elapsed_seconds``, the stages before the report) and the
seconds the run itself recorded for the two parts. The targets: verdicts <= 10 s, economics
<= 5 s added to the default compare.

    forecast compare --out runs/default
    python benchmarks/statistics_cost.py runs/default --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics as stats
import time
from pathlib import Path

import pandas as pd

from forecast.evaluation.economics import EconomicSettings
from forecast.report.economics_display import economic_section
from forecast.report.economics_figures import equity_figure
from forecast.report.tables import models_of
from forecast.report.verdicts_display import verdict_answer
from forecast.walkforward.runfiles import read_run
from forecast.walkforward.scoring import score_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run = read_run(args.run_dir)
    level = run.run["config"]["intervals"]["level"] if run.run["config"]["intervals"] else None
    fc, metrics = run.forecasts, run.metrics
    n_models = fc["model"].nunique()
    print(
        f"{args.run_dir}: {len(fc)} forecasts, {n_models} models x {fc['series'].nunique()} "
        f"series x horizons {sorted(fc['horizon'].unique())}; level {level}"
    )
    seconds: dict[str, list[float]] = {"verdicts": [], "economics": [], "report": []}
    for _ in range(args.repeat):
        scores = score_run(fc, metrics, alpha=0.05, seed=0, economics=EconomicSettings(),
                           level=level)  # fmt: skip
        seconds["verdicts"].append(scores.statistics["verdicts"]["seconds"])
        seconds["economics"].append(scores.statistics["economics"]["seconds"])
        t0 = time.perf_counter()
        verdict_answer(run, 0.05)
        section = economic_section(run)
        series = list(dict.fromkeys(metrics["series"]))
        equity_figure(run.equity_curves, section.cost, series, models_of(metrics))
        seconds["report"].append(time.perf_counter() - t0)
    recorded = json.loads((args.run_dir / "run.json").read_text())
    elapsed = recorded.get("elapsed_seconds")
    print(f"the compare's own wall time before the report: {elapsed} s")
    print(f"recorded by that run: {recorded['statistics']}")
    rows = []
    for part, values in seconds.items():
        rows.append(
            {
                "part": part,
                "median s": round(stats.median(values), 2),
                "min s": round(min(values), 2),
                "max s": round(max(values), 2),
                "share of the run": f"{100 * stats.median(values) / elapsed:.1f}%"
                if elapsed
                else "-",
            }
        )
    print(pd.DataFrame(rows).to_string(index=False))
    total = stats.median(seconds["verdicts"]) + stats.median(seconds["economics"])
    print(f"verdicts + economics: {total:.2f} s (targets: verdicts <= 10 s, economics <= 5 s)")


if __name__ == "__main__":
    main()
