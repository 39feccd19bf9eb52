"""The job lock: one run per store, a clear message naming the holder, optional waiting."""

from __future__ import annotations

import os
import threading
import time

import pytest

from forecast.job.lock import JobLock, JobLocked, lock_path


def test_second_lock_is_refused_and_names_the_holder(tmp_path):
    store = tmp_path / "forecast.db"
    assert lock_path(store).name == "forecast.db-job.lock"
    first = JobLock(store)
    first.acquire(info={"started_at": "2026-01-02T21:00:00+00:00", "as_of": "2026-01-02"})
    try:
        with pytest.raises(JobLocked) as err:
            JobLock(store).acquire()
        msg = str(err.value)
        assert f"pid {os.getpid()}" in msg
        assert "started 2026-01-02T21:00:00+00:00" in msg and "as-of 2026-01-02" in msg
        assert "--wait" in msg
    finally:
        first.release()
    with JobLock(store) as again:  # released: free again
        again.acquire()
    assert lock_path(store).exists()  # the lock file is never deleted


def test_wait_gets_the_lock_when_the_holder_finishes(tmp_path):
    store = tmp_path / "forecast.db"
    first = JobLock(store)
    first.acquire()
    threading.Timer(0.5, first.release).start()
    t0 = time.monotonic()
    second = JobLock(store)
    second.acquire(wait=10)
    assert 0.3 < time.monotonic() - t0 < 5
    second.release()


def test_wait_gives_up(tmp_path):
    store = tmp_path / "forecast.db"
    first = JobLock(store)
    first.acquire()
    with pytest.raises(JobLocked, match=r"after waiting 0.5s"):
        JobLock(store).acquire(wait=0.5)
    first.release()
