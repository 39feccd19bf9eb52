"""Time how long ``forecast`` takes to answer ``--help``, each subcommand's ``--help``, a few
argument errors and ``import forecast``, each in a fresh interpreter (the target: < 0.5 s).

Each command runs ``--repeat`` times; the best and the median are printed, beside the bare
interpreter (``python -c pass``) as the floor no command can beat.

    python benchmarks/startup_time.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from forecast.cli import SUBCOMMANDS

TARGET = 0.5

CASES = [
    ("python -c pass (the floor)", ["-c", "pass"]),
    ("import forecast", ["-c", "import forecast"]),
    ("forecast --help", ["-m", "forecast", "--help"]),
    *[(f"forecast {name} --help", ["-m", "forecast", name, "--help"]) for name in SUBCOMMANDS],
    ("forecast backtest --models nope", ["-m", "forecast", "backtest", "--models", "nope"]),
    ("forecast backtest --jobs 0", ["-m", "forecast", "backtest", "--jobs", "0"]),
    ("forecast run --as-of 2013-02-30", ["-m", "forecast", "run", "--as-of", "2013-02-30"]),
    ("forecast fetch A/B", ["-m", "forecast", "fetch", "A/B"]),
]


def time_once(args: list[str]) -> float:
    """Seconds one fresh interpreter takes to run ``python ARGS`` to the end."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, check=False)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"best and median of {opts.repeat} runs")  # fmt: skip
    slow = []
    for label, args in CASES:
        times = [time_once(args) for _ in range(opts.repeat)]
        best, median = min(times), statistics.median(times)
        flag = "" if median < TARGET else f"  over {TARGET} s"
        print(f"{label:<40} best {best:5.2f} s  median {median:5.2f} s{flag}")
        if median >= TARGET and "floor" not in label:
            slow.append(label)
    print(f"{len(CASES) - 1 - len(slow)} of {len(CASES) - 1} under {TARGET} s (median)")


if __name__ == "__main__":
    main()
