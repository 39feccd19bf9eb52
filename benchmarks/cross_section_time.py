"""The cross-sectional backtest of the universe, timed end to end as a user runs it.

The target: ``forecast backtest --cross-section`` on the universe (the 14 shipped S&P 500
stocks and IBM: 15 stocks), 250 origins, refit every 20 (13 refits), the global LSTM with
covariates, in under 10 minutes on 2 cores. This runs the command in a fresh process (so the
imports and the worker start-up count) and reports its wall time, the CPU seconds of the
command and its workers, their peak memory (the largest process), and the machine's load
average before and after (on a shared machine the wall time says as much about the neighbours
as about the code; the CPU seconds do not).

    python benchmarks/cross_section_time.py [--models global_lstm+x] [--covariates market,dow]
        [-- extra forecast backtest options, e.g. --epochs 20 --warm-start]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="global_lstm+x")
    parser.add_argument("--covariates", default="market,dow")
    parser.add_argument("--jobs", default="2")
    parser.add_argument("extra", nargs="*", help="more forecast backtest options (after --)")
    args = parser.parse_args()
    out = tempfile.mkdtemp(prefix="xs-")
    command = [sys.executable, "-m", "forecast", "backtest", "--cross-section", "--models",
               args.models, "--covariates", args.covariates, "--test-size", "250",
               "--refit-every", "20", "--jobs", args.jobs, "--no-progress", "--out", out,
               *args.extra]  # fmt: skip
    before = os.getloadavg()
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = os.getloadavg()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(" ".join(["forecast", *command[3:]]))
    if done.returncode:
        print(done.stderr[-2000:])
        raise SystemExit(f"the command failed with exit code {done.returncode}")
    print(done.stdout.split("\n\n")[0])
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"wall {wall:.0f} s ({wall / 60:.1f} min; target < 10 min), CPU {cpu:.0f} s "
        f"(command and workers), peak RSS of the largest process {usage.ru_maxrss / 1024:.0f} MB; "
        f"load average before {before[0]:.1f} {before[1]:.1f} {before[2]:.1f}, after "
        f"{after[0]:.1f} {after[1]:.1f} {after[2]:.1f}, {os.cpu_count()} cores; run folder {out}"
    )


if __name__ == "__main__":
    main()
