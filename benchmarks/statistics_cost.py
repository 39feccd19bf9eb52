"""What the verdict statistics and the economic value add to a real ``forecast compare``.

Reads a run folder written by ``forecast compare`` (the default config: 11 models x 5 series x
horizons 1 and 5 x 250 origins) and times, on its own ``forecasts.csv`` and ``metrics.csv``,
exactly what the engine runs once per run (:func:`forecast.walkforward.scoring.score_run`):

- the verdicts (Clark-West, R²_OS, MCS, SPA, StepM with 1000 replications, the pooled answer),
- the economic value (3 rules with the volatility forecast from the run's intervals, costs 0,
  5 and 10 bp, the DSR and the PBO with 16 blocks, the equity curves),
- the report's new pieces (the verdict table and headline, the economic section, the equity
  figure),

``--repeat`` times each, interleaved, and prints the median wall time and spread and the
median CPU time of this process (on a shared machine the CPU seconds are the figure that
does not depend on the load), beside the run's own wall time (``run.json``'s
``elapsed_seconds``) and the seconds the run itself recorded for the two parts. The targets:
verdicts <= 10 s, economics <= 5 s added to the default compare.

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
from forecast.walkforward.scoring import _economics, score_run


def _timed(fn, *args, **kwargs):
    """``fn``'s result, wall seconds and CPU seconds of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run = read_run(args.run_dir)
    intervals = run.run["config"]["intervals"]
    level = intervals["level"] if intervals else None
    fc, metrics = run.forecasts, run.metrics
    print(
        f"{args.run_dir}: {len(fc)} forecasts, {fc['model'].nunique()} models x "
        f"{fc['series'].nunique()} series x horizons {sorted(fc['horizon'].unique())}; "
        f"interval level {level}"
    )
    wall: dict[str, list[float]] = {"verdicts": [], "economics": [], "report": []}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    series = list(dict.fromkeys(metrics["series"]))
    for _ in range(args.repeat):  # the parts interleaved, so that drifts hit each alike
        _, w, c = _timed(score_run, fc, metrics, alpha=0.05, seed=0, economics=None)
        wall["verdicts"].append(w)
        cpu["verdicts"].append(c)
        _, w, c = _timed(_economics, fc, EconomicSettings(), level)
        wall["economics"].append(w)
        cpu["economics"].append(c)

        def report_parts():
            verdict_answer(run, 0.05)
            section = economic_section(run)
            equity_figure(run.equity_curves, section.cost, series, models_of(metrics))

        _, w, c = _timed(report_parts)
        wall["report"].append(w)
        cpu["report"].append(c)
    recorded = json.loads((args.run_dir / "run.json").read_text())
    elapsed = recorded.get("elapsed_seconds")
    stats_run = recorded.get("statistics", {})
    print(
        f"the compare's own wall time before the report: {elapsed} s; it recorded "
        f"verdicts {stats_run.get('verdicts', {}).get('seconds')} s, economics "
        f"{(stats_run.get('economics') or {}).get('seconds')} s (wall)"
    )
    rows = [
        {
            "part": part,
            "wall median s": round(stats.median(wall[part]), 2),
            "wall min-max s": f"{min(wall[part]):.2f}-{max(wall[part]):.2f}",
            "CPU median s": round(stats.median(cpu[part]), 2),
        }
        for part in wall
    ]
    print(pd.DataFrame(rows).to_string(index=False))
    for kind, table in (("wall", wall), ("CPU", cpu)):
        v, e = stats.median(table["verdicts"]), stats.median(table["economics"])
        print(f"{kind}: verdicts {v:.2f} s (target <= 10 s), economics {e:.2f} s (target <= 5 s)")


if __name__ == "__main__":
    main()
