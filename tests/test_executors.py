"""Executors: serial, local processes and Dask give the same forecasts bit for bit; failures,
dead workers, ordering, thread limits and the option errors."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from executor_tasks import KillerDrift, die, die_once, fail, square, thread_limits, worker_pid
from helpers import price_series, tiny

from forecast.cli import main
from forecast.data.series import embedded_dir, read_price_csv
from forecast.execution.base import ExecutorError, SerialExecutor
from forecast.execution.process_pool import ProcessExecutor
from forecast.execution.sizing import make_executor, resolve_executor
from forecast.models import available_models, get_model
from forecast.walkforward.engine import backtest

distributed = pytest.importorskip("distributed")
from forecast.execution.dask_cluster import DaskExecutor  # noqa: E402

#: every registered model, the neural ones tiny: the same bits from every executor
MODELS = {name: tiny(get_model(name)) for name in available_models()}
SETTINGS = {"horizons": (1, 3), "test_size": 20, "refit_every": 10, "seed": 0}


@pytest.fixture(autouse=True)
def _driver_pid(monkeypatch):
    """Lets the helper tasks tell this process from its workers (they inherit the variable)."""
    monkeypatch.setenv("FORECAST_TEST_DRIVER", str(os.getpid()))


@pytest.fixture(scope="module")
def series():
    """Two short embedded series: every model fits in a fraction of a second."""
    return [read_price_csv(embedded_dir() / f"{t}.csv").iloc[-160:] for t in ("GSPC", "IBM")]


@pytest.fixture(scope="module")
def serial(series):
    return backtest(series, MODELS, **SETTINGS)


def _assert_same(result, reference):
    pd.testing.assert_frame_equal(result.forecasts, reference.forecasts)  # bit for bit
    pd.testing.assert_frame_equal(result.metrics, reference.metrics)
    pd.testing.assert_frame_equal(result.failures, reference.failures)
    pd.testing.assert_frame_equal(result.series_info, reference.series_info)
    assert result.timings[["series", "model", "n_fits"]].equals(
        reference.timings[["series", "model", "n_fits"]]
    )


def test_worker_processes_give_the_serial_forecasts_bit_for_bit(series, serial):
    assert set(serial.forecasts.model) == set(MODELS) and serial.failures.empty
    _assert_same(backtest(series, MODELS, **SETTINGS, jobs=2), serial)


def test_a_local_dask_cluster_gives_the_serial_forecasts_bit_for_bit(series, serial):
    result = backtest(series, MODELS, **SETTINGS, executor=DaskExecutor(workers=2, timeout=20))
    _assert_same(result, serial)


def test_pool_tasks_run_one_thread_each_in_workers_and_failures_are_results():
    psutil = pytest.importorskip("psutil")
    with ProcessExecutor(2, warm_up=[thread_limits]) as pool:  # workers kept for both batches
        with pool.start(ordered=True) as batch:
            for i in range(5):
                batch.submit(i, fail if i == 2 else square, i)
            batch.add_result("known", 42)  # found by the driver, kept in line
            batch.submit("limits", thread_limits)
            batch.submit("pid", worker_pid)
            outcomes = list(batch.completed())
        with pool.start() as batch:
            for i in range(4):
                batch.submit(i, worker_pid)
            pids = {o.value for o in batch.completed()}
        workers = [psutil.Process(pid) for pid in pids]
    assert [o.key for o in outcomes] == [0, 1, 2, 3, 4, "known", "limits", "pid"]
    by_key = {o.key: o for o in outcomes}
    assert by_key[2].error == "ValueError: no good: 2" and by_key[2].value is None
    assert [by_key[i].value for i in (0, 1, 3, 4)] == [0, 1, 9, 16]
    assert by_key["known"].value == 42
    assert by_key["limits"].value == [1]  # one BLAS and OpenMP thread in a task
    assert by_key["pid"].value != os.getpid() and by_key["pid"].value in pids  # same workers
    assert not psutil.wait_procs(workers, timeout=10)[1]  # stopped with the block


def test_in_process_tasks_run_one_thread_and_leave_the_process_as_it_was():
    from threadpoolctl import threadpool_info

    before = [lib["num_threads"] for lib in threadpool_info()]
    with SerialExecutor().start() as batch:
        batch.submit("limits", thread_limits)
        batch.submit("fails", fail, 3)
        batch.add_result("known", 1)
        outcomes = {o.key: o for o in batch.completed()}
    assert outcomes["limits"].value == [1] and outcomes["fails"].error.startswith("ValueError")
    assert [lib["num_threads"] for lib in threadpool_info()] == before


def test_a_dead_worker_costs_only_its_task(tmp_path, caplog):
    with ProcessExecutor(2).start() as batch:
        batch.submit("once", die_once, str(tmp_path / "died"), 7)  # dies, then works alone
        batch.submit("always", die, 1)  # dies again when rerun alone: reported
        for i in range(3):
            batch.submit(i, square, i)
        outcomes = {o.key: o for o in batch.completed()}
    assert outcomes["once"].value == 7 and (tmp_path / "died").is_file()
    assert outcomes["always"].error.startswith("WorkerDied: the worker process running this")
    assert "died 2 times (exit codes [-9]" in outcomes["always"].error
    assert [outcomes[i].value for i in range(3)] == [0, 1, 4]
    assert "a worker process died" in caplog.text


def test_a_backtest_task_whose_worker_dies_is_reported_and_the_others_are_kept():
    good = price_series(120, seed=3, name="GOOD")
    bad = price_series(120, seed=4, name="BAD")
    models = {"drift": get_model("drift"), "killer": KillerDrift()}
    settings = {"horizons": 1, "test_size": 20, "refit_every": 10}
    reference = backtest([good], models, **settings)
    # one worker and no retry: the one task running when the worker dies is the culprit
    result = backtest([good, bad], models, **settings, executor=ProcessExecutor(1, retries=0))
    failure = result.failures.to_dict("records")
    assert len(failure) == 1 and failure[0]["series"] == "BAD" and failure[0]["stage"] == "task"
    assert failure[0]["model"] == "killer" and "WorkerDied" in failure[0]["error"]
    timing = result.timings.set_index(["series", "model"]).loc[("BAD", "killer")]
    assert (timing.n_fits, timing.n_failed) == (0, 2)
    kept = result.forecasts[result.forecasts.series == "GOOD"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, reference.forecasts)
    assert np.isnan(result.metrics.set_index(["series", "model"]).loc[("BAD", "killer"), "mae"])
    assert set(result.forecasts[result.forecasts.series == "BAD"].model) == {"naive", "drift"}


def test_dask_reruns_the_task_of_a_dead_worker(tmp_path):
    with DaskExecutor(workers=2, timeout=20) as dask:  # one cluster for both batches
        with dask.start(ordered=True) as batch:
            batch.submit("once", die_once, str(tmp_path / "died"), 7)
            batch.submit("fails", fail, 1)
            batch.submit("square", square, 5)
            outcomes = list(batch.completed())
        with dask.start() as batch:
            batch.submit("again", square, 6)
            (again,) = batch.completed()
    assert [o.key for o in outcomes] == ["once", "fails", "square"]
    assert outcomes[0].value == 7 and (tmp_path / "died").is_file()
    assert outcomes[1].error == "ValueError: no good: 1"  # an error is a result: not retried
    assert outcomes[2].value == 25 and again.value == 36


def test_an_unreachable_scheduler_is_named():
    with pytest.raises(ExecutorError, match=r"--scheduler: no Dask scheduler answered at "):
        DaskExecutor("tcp://127.0.0.1:9", timeout=1).start()


def test_the_python_api_choices_and_their_errors():
    assert isinstance(resolve_executor(), SerialExecutor)
    assert isinstance(resolve_executor(jobs=1), SerialExecutor)
    assert resolve_executor(jobs=3).workers == 3
    pool = ProcessExecutor(2)
    assert resolve_executor(executor=pool) is pool
    with pytest.raises(ValueError, match="jobs must be an integer >= 1; got 0"):
        resolve_executor(jobs=0)
    with pytest.raises(ValueError, match="pass jobs or executor, not both"):
        resolve_executor(jobs=2, executor=pool)
    with pytest.raises(
        TypeError, match=r"executor must be a forecast\.execution\.base\.Executor; got"
    ):
        resolve_executor(executor="dask")
    with pytest.raises(ValueError, match="jobs must be an integer >= 1; got 0"):
        backtest(price_series(60), "naive", test_size=5, jobs=0)
    assert make_executor(4, n_tasks=3).workers == 3  # never more workers than tasks
    assert isinstance(make_executor(2, n_tasks=1), SerialExecutor)
    assert make_executor(None, "dask", "tcp://h:8786").scheduler == "tcp://h:8786"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--jobs", "0"], "--jobs must be an integer >= 1; got 0"),
        (
            ["--scheduler", "tcp://h:8786"],
            "--scheduler needs --executor dask; got --executor local",
        ),
        (
            ["--executor", "dask", "--scheduler", "tcp://h:8786", "--jobs", "2"],
            "--jobs sizes a local cluster; the cluster at --scheduler tcp://h:8786 has its own",
        ),
    ],
)
@pytest.mark.parametrize("command", ["backtest", "compare", "run"])
def test_option_errors_exit_2_naming_the_option(command, argv, message, tmp_path, capsys):
    code = main([command, *argv, "--out" if command != "run" else "--store", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and len(err) <= 2


def test_dask_not_installed_is_one_clear_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)  # import fails
    argv = ["--executor", "dask", "--csv", str(embedded_dir() / "IBM.csv"), "--test-size", "5"]
    code = main(["backtest", *argv, "--models", "naive", "--out", str(tmp_path / "r")])
    assert code == 1
    err = capsys.readouterr().err
    assert "--executor dask needs Dask's distributed scheduler: pip install 'forecast[dask]'" in err


def test_cli_jobs_2_writes_what_jobs_1_writes(tmp_path):
    argv = ["backtest", "--csv", str(embedded_dir() / "IBM.csv"), "--models", "naive,drift,ar"]
    argv += ["--test-size", "20", "--refit-every", "10", "--no-report", "--no-progress"]
    for jobs in ("1", "2"):
        assert main([*argv, "--jobs", jobs, "--out", str(tmp_path / jobs)]) == 0
    for name in ("forecasts.csv", "metrics.csv"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()
