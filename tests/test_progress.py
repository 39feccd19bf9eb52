"""Progress on stderr: when it shows, what a line says, and fold reports from workers."""

from __future__ import annotations

import io
import time

import pytest

from forecast.cli import main
from forecast.execution.process_pool import ProcessExecutor
from forecast.execution.progress import (
    ENV,
    Progress,
    WorkerReporter,
    format_duration,
    progress_wanted,
)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_on_a_terminal_and_elsewhere_only_when_asked(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert progress_wanted(None, FakeTerminal()) is True
    assert progress_wanted(None, io.StringIO()) is False
    assert progress_wanted(True, io.StringIO()) is True
    assert progress_wanted(False, FakeTerminal()) is False
    monkeypatch.setenv(ENV, "1")
    assert progress_wanted(None, io.StringIO()) is True
    monkeypatch.setenv(ENV, "0")
    assert progress_wanted(None, FakeTerminal()) is False


def test_a_line_says_units_done_time_elapsed_and_time_left():
    out = io.StringIO()
    bar = Progress(4, "fold", "backtest", stream=out, tty=False)
    assert "estimating the time left" in bar.line()
    bar.set_description("GSPC lstm fold 1")
    bar.t0 -= 10  # ten seconds in
    bar.update(1)
    first = out.getvalue().splitlines()[0]
    assert first.startswith("backtest: 1/4 folds (25%), 10s elapsed, ~30s left")
    assert first.endswith(": GSPC lstm fold 1")
    bar.update(3)
    bar.close()
    assert out.getvalue().splitlines()[-1].startswith("backtest: 4/4 folds (100%)")
    assert format_duration(185) == "3m05s" and format_duration(3720) == "1h02m"


def test_plain_lines_are_rate_limited_but_the_last_one_shows():
    out = io.StringIO()
    bar = Progress(100, stream=out, tty=False)
    for _ in range(100):
        bar.update(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("100/100")  # the first and the last


def test_on_a_terminal_the_line_moves_during_a_long_unit_and_is_cleared():
    term = FakeTerminal()
    bar = Progress(2, stream=term, interval=0.05)
    time.sleep(0.4)  # no unit finishes, yet the elapsed time is redrawn
    redraws = term.getvalue().count("\r")
    bar.close()
    assert redraws >= 3
    assert "\n" not in term.getvalue()
    assert term.getvalue().endswith("\r")


def test_a_task_is_settled_when_it_returns_and_late_reports_are_ignored():
    bar = Progress(10, stream=io.StringIO(), tty=False)
    bar.event(("total", ("GSPC", "ar"), 2))  # a calibration walk: 2 more folds
    bar.event(("update", ("GSPC", "ar"), 3))
    bar.task_done(("GSPC", "ar"), 5)  # 5 test folds + 2 calibration folds in all
    assert (bar.done, bar.total) == (7, 12)
    bar.event(("update", ("GSPC", "ar"), 1))  # arrived after the result
    assert bar.done == 7


def test_a_reporter_outside_a_worker_does_nothing():
    WorkerReporter("k").update(1)  # no queue in this process: no error, no effect


def test_worker_reports_reach_the_driver_before_the_task_returns(tmp_path):
    flag = tmp_path / "go"
    events: list[tuple] = []
    with ProcessExecutor(1) as executor:
        executor.on_event = events.append
        with executor.start() as batch:
            from executor_tasks import report_then_wait

            batch.submit("task", report_then_wait, str(flag), 3)
            deadline = time.monotonic() + 60
            while sum(e[0] == "update" for e in events) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            seen = list(events)
            flag.touch()  # only now may the task return
            (done,) = list(batch.completed())
    assert done.value == 3
    assert seen == [("total", "task", 1)] + [("update", "task", 1)] * 3


def _backtest(tmp_path, *extra):
    return [
        "backtest", "GSPC", "--models", "naive,ar", "--test-size", "20", "--refit-every", "5",
        "--horizons", "1", "--intervals", "conformal", "--no-report", "--jobs", "1",
        "--out", str(tmp_path / "run"), *extra,
    ]  # fmt: skip


def test_backtest_progress_counts_every_fold_calibration_included(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert main(_backtest(tmp_path, "--progress")) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("backtest: ")]
    last = [line for line in lines if "folds" in line][-1]
    # 3 models (the random walk too) x 4 folds, and 2 x 20 calibration folds for naive and ar
    # plus the random walk's own: every one counted and done
    done, total = last.split(" ")[1].split("/")
    assert done == total and int(total) > 12
    assert any("calibration fold" in line for line in lines) or "left" in err


@pytest.mark.parametrize("extra", [(), ("--no-progress",)])
def test_no_progress_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch, extra):
    monkeypatch.delenv(ENV, raising=False)
    assert main(_backtest(tmp_path, *extra)) == 0
    assert "folds" not in capsys.readouterr().err


def test_the_environment_variable_asks_for_progress(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(ENV, "1")
    assert main(_backtest(tmp_path)) == 0
    assert "folds" in capsys.readouterr().err


def test_fetch_shows_progress_ticker_by_ticker(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv(ENV, raising=False)
    code = main(["fetch", "GSPC", "AAPL", "--offline", "--cache-dir", str(tmp_path), "--progress"])
    assert code == 0
    err = capsys.readouterr().err
    assert "fetch: 2/2 tickers (100%)" in err


RUN_CONFIG = """
tickers = ["AAPL", "MSFT"]
horizon = 2
store = "{store}"
train_size = 300
[models.naive]
[models.drift]
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_run_shows_progress_model_by_model(tmp_path, capsys, monkeypatch, jobs):
    monkeypatch.delenv(ENV, raising=False)
    config = tmp_path / "job.toml"
    config.write_text(RUN_CONFIG.format(store=tmp_path / "forecast.db"), encoding="utf-8")
    argv = ["run", "--config", str(config), "--as-of", "2013-02-28", "--offline", "--progress"]
    assert main([*argv, "--jobs", jobs]) == 0
    err = capsys.readouterr().err
    assert "run: 4/4 model fits (100%)" in err
