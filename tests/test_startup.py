"""Start-up: ``forecast --help``, every subcommand's ``--help`` and argument errors load no
heavy library (they answer at once); the library loads when a command runs.

Counts modules, not seconds (seconds are in ``benchmarks/startup_time.py``).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from forecast.cli import SUBCOMMANDS

HEAVY = (
    "pandas", "numpy", "sklearn", "scipy", "statsmodels", "torch", "matplotlib", "yfinance",
    "arch", "exchange_calendars", "jinja2", "fastapi", "tqdm",
)  # fmt: skip


def _heavy_after(argv: list[str]) -> tuple[int, list[str]]:
    """Run ``forecast ARGV`` in a fresh interpreter; its exit code and the heavy modules loaded."""
    code = (
        "import sys\n"
        "from forecast.cli import main\n"
        "try:\n"
        f"    rc = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    rc = exc.code\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print(rc, ' '.join(heavy), file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    last = out.stderr.strip().splitlines()[-1].split()
    return int(last[0]), last[1:]


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], []] + [[name, "--help"] for name in SUBCOMMANDS],
    ids=lambda a: " ".join(a) or "no-args",
)
def test_help_loads_no_heavy_library(argv):
    code, heavy = _heavy_after(argv)
    assert code in (0, 2)
    assert heavy == []


@pytest.mark.parametrize(
    "argv",
    [
        ["backtest", "--models", "nope"],
        ["backtest", "--jobs", "0"],
        ["backtest", "--test-size", "0"],
        ["backtest", "--horizons", "0"],
        ["backtest", "--refit-every", "0"],
        ["backtest", "--level", "2"],
        ["compare", "--jobs", "0"],
        ["run", "--jobs", "0"],
        ["run", "--scheduler", "tcp://h:1"],
        ["run", "--as-of", "not-a-date"],
        ["fetch"],
        ["fetch", "A/B"],
        ["scorecard", "--ticker", "a b"],
        ["serve", "--port", "99999"],
        ["report", "/nonexistent/run"],
        ["nosuchcommand"],
    ],
    ids=lambda a: " ".join(a),
)
def test_argument_errors_load_no_heavy_library(argv):
    code, heavy = _heavy_after(argv)
    assert code != 0
    assert heavy == []


def test_a_real_command_loads_the_library(tmp_path):
    """The check above is not vacuous: running a backtest does load pandas."""
    out = str(tmp_path / "r")
    argv = ["backtest", "--models", "naive", "--test-size", "3", "--horizons", "1",
            "--no-report", "--no-progress", "--jobs", "1", "--out", out]  # fmt: skip
    code, heavy = _heavy_after(argv)
    assert code == 0
    assert "pandas" in heavy


def test_upper_case_model_names_are_the_registry_names():
    from forecast.cli import model_list

    assert model_list("LSTM, Naive") == ["lstm", "naive"]


def test_the_help_texts_name_the_library_defaults():
    """The constants spelled out in the CLI (so that --help imports nothing) stay in step."""
    import forecast.cli.compare
    import forecast.cli.report
    from forecast.evaluation.conformal import DEFAULT_METHOD, METHODS
    from forecast.report import ALPHA
    from forecast.workflows.compare import DEFAULT_CONFIG

    assert forecast.cli.compare.DEFAULT_CONFIG == DEFAULT_CONFIG
    assert forecast.cli.report.ALPHA == ALPHA
    assert METHODS == ("model", "conformal", "aci") and DEFAULT_METHOD in METHODS


def test_the_console_script_runs_exit_handlers_flushes_and_keeps_the_code():
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('handler ran', flush=True))\n"
        "sys.argv = ['forecast', 'report', '/nonexistent/run']\n"
        "print('buffered', end='')\n"
        "from forecast.cli import console\n"
        "console()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stdout == "bufferedhandler ran\n"
    assert "run folder not found" in out.stderr
