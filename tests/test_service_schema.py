"""Property-based test of the HTTP service over its own OpenAPI schema (schemathesis).

Schemathesis generates requests from ``/openapi.json`` (valid and invalid parameters) and
sends them to the app in-process (ASGI, no network). Every response must be a non-5xx that
matches the documented status codes, content type and response schema.

The test drives schemathesis's Hypothesis strategies itself (one per operation and
generation mode) rather than through schemathesis's pytest plugin, whose fixture-based
parametrisation breaks on pytest releases newer than it knows (pytest 9.2 removed a node
attribute it sets): the check must not depend on which pytest CI happens to install.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from job_helpers import BASELINES, job_config, sessions

from forecast.job.runner import run_job
from forecast.service.app import create_app

with warnings.catch_warnings():  # starlette 1.10 asks for httpx2; httpx still works
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    import starlette.testclient  # noqa: F401  (imported once, here, without the warning)

#: examples per operation and generation mode: enough to reach every parameter's edges,
#: small enough for CI (the whole module runs in a few seconds)
MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    volatility = {"models": {"ewma": {}, "har": {}}}  # /volatility/{ticker} has data too
    config = job_config(tmp_path_factory.mktemp("schema"), models=BASELINES, volatility=volatility)
    for day in sessions(3, end="2013-02-28"):  # offline explicitly: module fixture
        assert run_job(config, as_of=day, offline=True).exit_code == 0
    moment = pd.Timestamp("2013-03-01 18:00", tz="America/New_York").to_pydatetime()
    return create_app(config.store, now=lambda: moment)


@pytest.fixture(scope="module")
def api(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def operations(api) -> list:
    found = [result.ok() for result in api.get_all_operations()]
    assert {op.path for op in found} >= {
        "/health",
        "/tickers",
        "/forecasts/{ticker}",
        "/volatility/{ticker}",
    }
    return found


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_no_server_error_and_responses_match_the_schema(api, mode):
    for operation in operations(api):
        if mode is schemathesis.GenerationMode.NEGATIVE and not list(operation.iter_parameters()):
            continue  # nothing to make invalid (/health): the positive run covers it

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,  # the same requests on every run: a CI failure reproduces
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case):
            case.call_and_validate()

        try:
            check()
        except Exception as error:  # name the operation that failed, keep the cause
            raise AssertionError(f"{operation.method.upper()} {operation.path}: {error}") from error
