"""The whole ``forecast backtest`` command on a short run, where its seconds go, and the same
work in Darts side by side (when a Python with Darts is given).

The run (issue 13): the last 1500 days of the embedded S&P 500 series, 100 origins, refit
every 20 (5 fits per model), horizons 1 and 5, 10 epochs, window 30, hidden 32, rnn, lstm
and gru, point forecasts (``--intervals none``), one worker (``--jobs 1``), the report on.

Ours runs as a fresh interpreter that imports what the command needs, then calls
``forecast.cli.main`` with those arguments; it prints the seconds of each stage: interpreter
start and exit, imports, data, fits, forecasts, the rest of the engine (scoring, metrics),
run files, report, and the CLI's own printing. The imports include torch's (about 2.5 s),
which the command itself makes at its first fit. The recurrent nets' C loops are built
before the timed runs (once per machine, about a second: ``forecast.models.kernels``), as
every run after a machine's first finds them built. Darts (``--darts-python``, a virtual
environment with ``darts==0.48`` and the same torch; never a dependency of this project) runs
``BlockRNNModel`` (30 inputs, 5 outputs, hidden 32, 10 epochs, batch 64, Adam 1e-3, one
torch thread, seed 0) with ``historical_forecasts(retrain=20)`` over the same 100 origins on
the log-returns, standardised with the pre-test mean and deviation. The two alternate
``--repeat`` times; the best of each is compared, so that a busy neighbour skews both alike.

    python benchmarks/backtest_fixed_costs.py [--repeat 2] [--darts-python VENV/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_DAYS, TEST, REFIT, EPOCHS, WINDOW, HIDDEN, MODELS = 1500, 100, 20, 10, 30, 32, "rnn,lstm,gru"
ROOT = Path(__file__).resolve().parent.parent


def write_series(folder: Path) -> Path:
    """The last ``N_DAYS`` rows of the embedded GSPC file, as a CSV of their own."""
    lines = (ROOT / "data" / "prices" / "GSPC.csv").read_text().splitlines()
    path = folder / "gspc1500.csv"
    path.write_text("\n".join([lines[0], *lines[-N_DAYS:]]) + "\n")
    return path


def command(csv: Path, out: Path) -> list[str]:
    """The ``forecast`` arguments of the run."""
    return [
        "backtest", "--csv", str(csv), "--models", MODELS, "--test-size", str(TEST),
        "--refit-every", str(REFIT), "--epochs", str(EPOCHS), "--window", str(WINDOW),
        "--hidden-size", str(HIDDEN), "--intervals", "none", "--jobs", "1", "--no-progress",
        "--out", str(out),
    ]  # fmt: skip


def ours_child(csv: str, out: str) -> None:
    """In a fresh interpreter: the command, its stages as one JSON line on stderr."""
    t0 = time.perf_counter()
    import importlib

    import forecast.workflows.backtest as workflow
    from forecast.cli import main
    from forecast.models.registry import MODELS as REGISTRY

    importlib.import_module("forecast.report")
    for name in MODELS.split(","):  # the model modules the command imports
        REGISTRY[name]
    importlib.import_module("torch")  # which the first fit would import: counted here
    t1 = time.perf_counter()
    runs = []
    real = workflow.run_backtest

    def spy(*args, **kwargs):
        runs.append(real(*args, **kwargs))
        return runs[-1]

    workflow.run_backtest = spy
    with open(os.devnull, "w") as sink:
        stdout, sys.stdout = sys.stdout, sink
        try:
            code = main(command(Path(csv), Path(out)))
        finally:
            sys.stdout = stdout
    t2 = time.perf_counter()
    assert code == 0, code
    stages, timings = runs[0].stages, runs[0].result.timings
    fits, forecasts = timings["fit_seconds"].sum(), timings["predict_seconds"].sum()
    seconds = {
        "imports": t1 - t0,
        "data": stages["data"],
        "fits": fits,
        "forecasts": forecasts,
        "engine rest": stages["backtest"] - fits - forecasts,
        "files": stages["files"],
        "report": stages["report"],
        "cli": (t2 - t1) - sum(stages.values()),
        "in process": time.perf_counter() - t0,
    }
    print(json.dumps({k: float(v) for k, v in seconds.items()}), file=sys.stderr, flush=True)
    import atexit

    atexit._run_exitfuncs()  # then leave as the console script does (forecast.cli.console)
    os._exit(0)


DARTS_CHILD = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd, torch
from darts import TimeSeries
from darts.models import BlockRNNModel
torch.set_num_threads(1)
t1 = time.perf_counter()
csv, test, refit, epochs, window, hidden, models = sys.argv[1:8]
test, refit, epochs, window, hidden = map(int, (test, refit, epochs, window, hidden))
prices = pd.read_csv(csv, index_col="Date", parse_dates=True)["Adj Close"]
r = np.log(prices).diff().dropna()
past = r.iloc[: len(r) - test]
z = ((r - past.mean()) / past.std()).astype("float32")
series = TimeSeries.from_values(z.to_numpy())
t2 = time.perf_counter()
fits = {}
for name in models.split(","):
    start = time.perf_counter()
    model = BlockRNNModel(
        model=name.upper(), input_chunk_length=window, output_chunk_length=5, hidden_dim=hidden,
        n_epochs=epochs, batch_size=64, random_state=0,
        pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False,
                           "enable_model_summary": False, "logger": False,
                           "enable_checkpointing": False},
    )
    model.historical_forecasts(
        series, start=len(series) - test, forecast_horizon=5, stride=1, retrain=refit,
        last_points_only=False, verbose=False, overlap_end=True,
    )
    fits[name] = time.perf_counter() - start
import json
print(json.dumps({"imports": t1 - t0, "data": t2 - t1, **{f"{k} (fits+forecasts)": v
      for k, v in fits.items()}, "in process": time.perf_counter() - t0}), file=sys.stderr)
"""


def timed(argv: list[str]) -> tuple[float, dict]:
    """Wall seconds of ``argv`` in a fresh process, and the stages it printed."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"{argv[:3]} failed:\n{done.stderr[-3000:]}")
    return wall, json.loads(done.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--darts-python", default=None, help="a Python with darts 0.48 (default: skip Darts)"
    )
    parser.add_argument("--child", nargs=2, metavar=("CSV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return ours_child(*args.child)
    darts = args.darts_python
    if darts and subprocess.run([darts, "-c", "import darts"], capture_output=True).returncode:
        print(f"no darts importable by {darts}: Darts skipped")
        darts = None
    from forecast.models import kernels

    built = kernels.library("float32") is not None
    print(f"the C loops: {'built' if built else 'not available (torch operations)'}")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at the start")
    best: dict[str, tuple[float, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        csv = write_series(Path(tmp))
        env_ours = [sys.executable, __file__, "--child", str(csv)]
        for i in range(args.repeat):
            runs = {"forecast": [*env_ours, str(Path(tmp) / f"run{i}")]}
            if darts:
                runs["darts"] = [darts, "-c", DARTS_CHILD, str(csv), str(TEST), str(REFIT),
                                 str(EPOCHS), str(WINDOW), str(HIDDEN), MODELS]  # fmt: skip
            for label, argv in runs.items():
                wall, stages = timed(argv)
                print(f"run {i + 1} {label}: {wall:.1f} s (load {os.getloadavg()[0]:.2f})")
                if label not in best or wall < best[label][0]:
                    best[label] = (wall, stages)
    for label, (wall, stages) in best.items():
        stages["start + exit"] = wall - stages.pop("in process")
        print(f"\n{label}: best of {args.repeat}: {wall:.1f} s")
        for name, seconds in stages.items():
            print(f"  {name:<28} {seconds:7.2f} s  {seconds / wall:6.1%}")
    if "darts" in best:
        ratio = best["darts"][0] / best["forecast"][0]
        print(f"\nforecast backtest is {ratio:.1f}x faster than Darts on this run")
    else:
        print(f"\nDarts not run; the issue measured 109 s for it: {109 / best['forecast'][0]:.1f}x")


if __name__ == "__main__":
    main()
