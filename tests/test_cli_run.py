"""``forecast run`` and ``forecast scorecard`` end to end: exit codes, messages, crashes, locks.

The crash tests SIGKILL a real child process at chosen points (inside a ticker's transaction,
between writing model files and committing, halfway through writing a model folder, and at
random times); the concurrency test starts real ``forecast`` processes on one store.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from job_helpers import dump, query, sessions

from forecast.cli import main
from forecast.job import modelfiles
from forecast.job.config import load_config
from forecast.job.lock import JobLock, lock_path
from forecast.job.runner import run_job

CONFIG = """
tickers = ["AAPL", "MSFT"]
horizon = 3
store = "{store}"
refit_every = 1
train_size = 300
[models.naive]
[models.drift]
[models.ar]
max_lags = 2
"""
D0, D1 = sessions(2, end="2013-02-28")


def _config(tmp_path: Path, name: str = "job") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "job.toml"
    path.write_text(CONFIG.format(store=folder / "forecast.db"), encoding="utf-8")
    return path


def _store(config: Path) -> Path:
    return config.parent / "forecast.db"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Forecasts and scores of uninterrupted runs at D0 then D1."""
    config = _config(tmp_path_factory.mktemp("reference"))
    for day in (D0, D1):  # offline explicitly: a module fixture runs before the autouse one
        assert run_job(load_config(config), as_of=day, offline=True).exit_code == 0
    return {t: dump(_store(config), t) for t in ("forecasts", "scores")}


# ---- the command line -----------------------------------------------------------------------
def test_run_prints_a_line_per_ticker_and_json(tmp_path, capsys):
    config = _config(tmp_path)
    assert main(["run", "--config", str(config), "--as-of", D0, "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["status"] == "succeeded" and summary["exit_code"] == 0
    assert [t["ticker"] for t in summary["tickers"]] == ["AAPL", "MSFT"]
    assert summary["tickers"][0]["forecasts"] == 9 and summary["as_of"] == D0
    lines = [line for line in err.splitlines() if not line.startswith("forecast run: warning")]
    assert lines[0].startswith("AAPL ") and f"as-of {D0}" in lines[0] and "refit naive" in lines[0]
    assert lines[1].startswith("MSFT ")
    assert lines[2].startswith("forecast run: succeeded: 2 tickers stored (run 1")
    assert main(["run", "--config", str(config), "--as-of", D0]) == 0
    assert "nothing_to_do: no new session" in capsys.readouterr().err


def test_intervals_and_level_options_override_the_config(tmp_path, capsys):
    config = _config(tmp_path)
    args = ["run", "--config", str(config), "--jobs", "1", "--as-of"]
    assert main([*args, D0, "--intervals", "conformal", "--level", "0.9", "--scale", "ewma"]) == 0
    assert main([*args, D1, "--intervals", "none"]) == 0
    assert "9 forecasts  0 with intervals" in capsys.readouterr().err
    methods = query(
        _store(config),
        "SELECT DISTINCT as_of, interval_method, interval_level, interval_scale, sigma > 0 "
        "FROM forecasts",
    )
    assert sorted(methods) == [(D0, "conformal", 0.9, "ewma", 1), (D1, None, None, None, None)]
    assert main([*args, D1, "--intervals", "none", "--level", "0.9"]) == 2
    assert "--level has no effect with --intervals none" in capsys.readouterr().err
    assert main([*args, D1, "--intervals", "none", "--scale", "garch"]) == 2
    assert "--scale has no effect with --intervals none" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, D1, "--scale", "vix"])
    assert "argument --scale: invalid choice: 'vix'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, D1, "--level", "1.5"])
    assert "expected a number between 0 and 1 (exclusive); got '1.5'" in capsys.readouterr().err


def test_holiday_and_bad_arguments(tmp_path, capsys):
    config = _config(tmp_path)
    assert main(["run", "--config", str(config), "--as-of", "2013-02-18"]) == 0
    assert "2013-02-18 is not a trading session on XNYS" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--config", str(config), "--as-of", "2013-13-01"])
    assert exit_.value.code == 2
    assert "--as-of must be a date like 2024-01-31; got '2013-13-01'" in capsys.readouterr().err


def test_bad_config_key_is_named(tmp_path, capsys):
    config = _config(tmp_path)
    config.write_text(config.read_text() + "\n[models.lstm]\nhiden_size = 3\n")
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "job.toml: models.lstm.hiden_size: unknown parameter of lstm; valid: " in err
    assert "hidden_size" in err and err.count("\n") == 1  # one line, no traceback


def test_missing_or_read_only_store_folder(tmp_path, capsys):
    config = _config(tmp_path)
    missing = tmp_path / "nope" / "f.db"
    assert main(["run", "--config", str(config), "--store", str(missing), "--as-of", D0]) == 1
    assert f"store folder does not exist: {missing.parent}" in capsys.readouterr().err
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o555)
    elif Path("/sys").is_dir() and not os.access("/sys", os.W_OK):
        folder = Path("/sys")
    else:  # root ignores permission bits; /sys is read-only even for root
        folder = Path("/sys")
    code = main(["run", "--config", str(config), "--store", str(folder / "f.db"), "--as-of", D0])
    assert code == 1
    assert f"store folder is not writable: {folder}" in capsys.readouterr().err


def test_lock_held_exits_75_naming_the_holder(tmp_path, capsys):
    config = _config(tmp_path)
    holder = JobLock(_store(config))
    holder.acquire(info={"started_at": "2026-11-30T21:00:00+00:00", "as_of": D0})
    try:
        assert main(["run", "--config", str(config), "--as-of", D0, "--json"]) == 75
    finally:
        holder.release()
    out, err = capsys.readouterr()
    assert f"pid {os.getpid()}" in err and "started 2026-11-30T21:00:00+00:00" in err
    assert json.loads(out)["status"] == "locked"


def test_scorecard_command(tmp_path, capsys):
    config = _config(tmp_path)
    for day in sessions(4, end="2013-02-28"):
        main(["run", "--config", str(config), "--as-of", day])
    capsys.readouterr()
    assert main(["scorecard", "--config", str(config), "--ticker", "aapl"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == [
        "ticker", "model", "horizon", "n", "pending", "mae", "rmse", "rel_mae", "hit_rate",
        "n_intervals", "level", "coverage", "width", "n_calm", "coverage_calm", "n_turbulent",
        "coverage_turbulent", "first_target", "last_target", "next_target",
    ]  # fmt: skip
    assert text.splitlines()[-1].startswith("18 of 36 forecasts scored; 18 pending")
    assert "MSFT" not in text
    assert main(["scorecard", "--store", str(_store(config)), "--model", "naive", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["ticker"] for r in records} == {"AAPL", "MSFT"}
    assert all(r["rel_mae"] == 1.0 and r["hit_rate"] is None for r in records if r["n"])
    assert all(r["n_intervals"] == r["n"] and r["level"] == 0.8 for r in records if r["n"])
    assert all(0 <= r["coverage"] <= 1 and r["width"] > 0 for r in records if r["n"])
    assert main(["scorecard", "--store", str(tmp_path / "none.db")]) == 1
    assert "no store at" in capsys.readouterr().err


# ---- crashes: SIGKILL at chosen points ----------------------------------------------------------
def _child(config: str, as_of: str, point: str) -> None:
    """Run the job in a forked child and SIGKILL it at ``point`` (while handling MSFT)."""
    from forecast.store import database as st

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "in_transaction":  # every row of MSFT inserted, COMMIT not reached
        original = st.Store._ticker_row

        def hook(c, run_id, result):
            if result.ticker == "MSFT":
                die()
            return original(c, run_id, result)

        st.Store._ticker_row = staticmethod(hook)
    elif point == "before_commit":  # MSFT's model files written, its transaction not begun
        original_write = st.Store.write_ticker

        def write(self, run_id, result):
            if result.ticker == "MSFT":
                die()
            return original_write(self, run_id, result)

        st.Store.write_ticker = write
    elif point == "mid_model_file":  # a model folder half written
        original_sync = modelfiles._fsync_dir

        def sync(path):
            if "T_MSFT" in str(path) and path.name.startswith(".tmp-"):
                die()
            return original_sync(path)

        modelfiles._fsync_dir = sync
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    os._exit(main(["run", "--config", config, "--as-of", as_of]))


def _kill_run(config: Path, point: str, delay: float | None = None) -> int | None:
    ctx = multiprocessing.get_context("fork")  # a real process, without re-importing torch
    child = ctx.Process(target=_child, args=(str(config), D1, point))
    child.start()
    if delay is not None:
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
    child.join(60)
    return child.exitcode


def _check_consistent(store: Path) -> None:
    conn = sqlite3.connect(store)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # a ticker's forecasts for an as-of are all there (3 models x 3 horizons) or absent
        counts = conn.execute(
            "SELECT ticker, as_of, COUNT(*) FROM forecasts GROUP BY ticker, as_of"
        ).fetchall()
        assert all(n == 9 for _, _, n in counts), counts
        # every version the store points to is complete and passes its check
        active = "SELECT file, sha256 FROM model_versions WHERE status = 'active'"
        for rel, sha in conn.execute(active):
            modelfiles.read_version(store.parent / "forecast.db.models", rel, sha)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("point", "delay"),
    [
        ("in_transaction", None),
        ("before_commit", None),
        ("mid_model_file", None),
        ("random", 0.05),
        ("random", 0.25),
    ],
)
def test_killed_run_leaves_a_consistent_store_and_the_next_run_completes(
    tmp_path, reference, point, delay
):
    config = _config(tmp_path)
    store = _store(config)
    assert run_job(load_config(config), as_of=D0).exit_code == 0
    code = _kill_run(config, point, delay)
    if delay is None:
        assert code == -signal.SIGKILL
        # AAPL was committed before the kill; nothing of MSFT at D1 was
        assert query(store, "SELECT DISTINCT ticker FROM forecasts WHERE as_of = ?", (D1,)) == [
            ("AAPL",)
        ]
        assert query(store, "SELECT status FROM runs ORDER BY run_id") == [
            ("succeeded",),
            ("running",),
        ]
    _check_consistent(store)
    summary = run_job(load_config(config), as_of=D1)
    assert summary.exit_code == 0
    _check_consistent(store)
    assert not list((store.parent / "forecast.db.models").glob("*/*/.tmp-*"))
    assert "running" not in {r[0] for r in query(store, "SELECT status FROM runs")}
    assert {t: dump(store, t) for t in ("forecasts", "scores")} == reference


def test_sigterm_rolls_back_the_open_ticker_and_marks_the_run_aborted(tmp_path):
    config = _config(tmp_path)
    store = _store(config)
    go = tmp_path / "never"
    ctx = multiprocessing.get_context("fork")
    # --jobs 1: the gate patches compute_ticker in this process (workers would not see it)
    args = ["run", "--config", str(config), "--as-of", D0, "--jobs", "1"]
    child = ctx.Process(target=_forked_main, args=(args, str(tmp_path / "out"), str(go), "MSFT"))
    child.start()

    def aapl_done() -> bool:
        try:
            return query(store, "SELECT ticker FROM run_tickers") == [("AAPL",)]
        except sqlite3.Error:  # not created yet
            return False

    _until(aapl_done)
    os.kill(child.pid, signal.SIGTERM)
    child.join(60)
    assert child.exitcode == 143  # 128 + SIGTERM, documented
    assert "forecast run: interrupted" in (tmp_path / "out").read_text()
    assert query(store, "SELECT status FROM runs") == [("aborted",)]
    assert query(store, "SELECT DISTINCT ticker FROM forecasts") == [("AAPL",)]
    with JobLock(store) as lock:  # released
        lock.acquire()


# ---- two jobs at once: real processes -----------------------------------------------------------
def _forked_main(args: list[str], out: str, gate: str | None = None, at: str = "") -> None:
    """``forecast`` in a forked child, output to ``out``; with ``gate``, pause before
    computing ticker ``at`` (default: the first) until that file exists."""
    import forecast.job.runner as job

    if gate is not None:
        compute, deadline = job.compute_ticker, time.monotonic() + 60

        def gated(work, *rest):
            while work.ticker.startswith(at) and not os.path.exists(gate):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            return compute(work, *rest)

        job.compute_ticker = gated
    with open(out, "w") as fh:
        sys.stdout = sys.stderr = fh
        code = main(args)
        fh.flush()
    os._exit(code)


def _holds_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (it is trying to lock it)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        except OSError:
            continue
    return False


def _until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to watch the lock")
def test_two_runs_at_once_one_writes_the_other_waits_or_exits(tmp_path, reference):
    config = _config(tmp_path)
    store, lock = _store(config), lock_path(_store(config))
    assert run_job(load_config(config), as_of=D0).exit_code == 0
    # --jobs 1: the gate patches compute_ticker in this process (workers would not see it)
    args = ["run", "--config", str(config), "--as-of", D1, "--json", "--jobs", "1"]
    go = tmp_path / "go"
    ctx = multiprocessing.get_context("fork")  # real processes, without re-importing torch
    first = ctx.Process(target=_forked_main, args=(args, str(tmp_path / "first.out"), str(go)))
    first.start()
    _until(lambda: json.loads(lock.read_text() or "{}").get("pid") == first.pid)

    refused = ctx.Process(target=_forked_main, args=(args, str(tmp_path / "refused.out")))
    refused.start()
    refused.join(60)
    assert refused.exitcode == 75
    out = (tmp_path / "refused.out").read_text()
    assert f"another forecast run holds the lock {lock}" in out
    assert f"pid {first.pid}" in out and f"as-of {D1}" in out

    waiting = subprocess.Popen(  # a fresh interpreter through the real entry point
        [sys.executable, "-m", "forecast", *args, "--wait", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FORECAST_OFFLINE": "1"},
    )
    _until(lambda: _holds_open(waiting.pid, lock) or waiting.poll() is not None)
    assert waiting.poll() is None  # blocked on the lock
    go.touch()
    first.join(60)
    assert first.exitcode == 0
    first_summary = (tmp_path / "first.out").read_text()
    assert (
        json.loads(first_summary[first_summary.index("{") :].rsplit("}", 1)[0] + "}")["status"]
        == "succeeded"
    )
    wait_out, wait_err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, wait_err
    assert json.loads(wait_out)["status"] == "nothing_to_do"  # the first did it all
    assert [r[0] for r in query(store, "SELECT status FROM runs ORDER BY run_id")] == [
        "succeeded",
        "succeeded",
        "nothing_to_do",
    ]
    assert {t: dump(store, t) for t in ("forecasts", "scores")} == reference
