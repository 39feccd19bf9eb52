"""The job config: every key checked, errors name the file, the key and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast.errors import ConfigError
from forecast.evaluation.conformal import IntervalSettings
from forecast.job.config import JobConfig, config_from_dict, load_config

GOOD = """
tickers = ["aapl", "^GSPC"]
horizon = 3
store = "x/forecast.db"
refit_every = 4
keep_versions = 2
train_size = 500

[models.naive]
[models.ar]
max_lags = 3

[refit_every_by_model]
ar = 10
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads(tmp_path):
    config = load_config(_write(tmp_path, GOOD))
    assert config.tickers == ("AAPL", "^GSPC")
    assert [m.name for m in config.models] == ["naive", "ar"]
    assert dict(config.models[1].params) == {"max_lags": 3}
    assert config.horizon == 3 and config.store == Path("x/forecast.db")
    assert config.refit_every_for("ar") == 10 and config.refit_every_for("naive") == 4
    assert config.models[1].build().max_lags == 3
    assert config.digest() == load_config(_write(tmp_path, GOOD)).digest()
    assert config.digest() != load_config(_write(tmp_path, GOOD.replace("= 3\n", "= 2\n"))).digest()


def test_default_pipeline_config_loads():
    path = Path(__file__).resolve().parent.parent / "pipelines" / "daily.toml"
    config = load_config(path)
    assert config.horizon == 5
    assert config.store == Path("data/forecast.db")
    assert set(config.tickers) == {"AAPL", "GOOG", "GSPC", "IBM", "MSFT"}
    from forecast.models import available_models
    from forecast.models.registry import is_global, is_ranking_baseline

    # every per-series price model (the global models and the cross-sectional signals are
    # for backtests of many series, not the evening job's one ticker at a time)
    per_series = [m for m in available_models() if not is_global(m) and not is_ranking_baseline(m)]
    assert [m.name for m in config.models] == per_series
    assert (config.intervals.method, config.intervals.level) == ("aci", 0.8)
    assert config.intervals.calibration_size == 100


def test_interval_keys(tmp_path):
    base = 'tickers = ["A"]\n'
    tail = "[models.naive]\n"
    config = load_config(_write(tmp_path, base + tail))
    assert config.intervals == IntervalSettings()  # on by default: adaptive conformal, 80%
    config = load_config(
        _write(tmp_path, base + 'intervals = "conformal"\nlevel = 0.9\ncalibration_size = 0\n'
               "interval_window = 60\n" + tail)
    )  # fmt: skip
    assert config.intervals == IntervalSettings("conformal", 0.9, calibration_size=0, window=60)
    assert config.intervals.scale == "garch"  # the default scale
    ewma = load_config(_write(tmp_path, base + 'scale = "ewma"\n' + tail))
    assert ewma.intervals == IntervalSettings(scale="ewma") and ewma.digest() != config.digest()
    none = load_config(_write(tmp_path, base + 'intervals = "none"\n' + tail))
    assert none.intervals is None
    assert (
        len({config.digest(), none.digest(), load_config(_write(tmp_path, base + tail)).digest()})
        == 3
    )


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("horizn = 5\n", r"job.toml: unknown key 'horizn'; valid keys: .*horizon"),
        (
            'tickers = ["A"]\nscale = "vix"\n[models.naive]\n',
            r"scale must be one of none, ewma, garch; got 'vix'",
        ),
        (
            'tickers = ["A"]\nintervals = "none"\nscale = "ewma"\n[models.naive]\n',
            r"scale has no effect with intervals = 'none'",
        ),
        ('tickers = ["A"]\n', r"missing required key 'models'"),
        ('tickers = ["A", "a"]\n[models.naive]\n', r"tickers\[1\]: 'A' is listed twice"),
        ('tickers = ["../x"]\n[models.naive]\n', r"tickers\[0\]: ticker may hold only"),
        ('tickers = "AAPL"\n[models.naive]\n', r"tickers must be a list"),
        ("tickers = []\n[models.naive]\n", r"tickers must list at least one ticker"),
        (
            'tickers = ["A"]\n[models.nave]\n',
            r"models.nave: unknown model 'nave'; valid models: naive",
        ),
        (
            'tickers = ["A"]\n[models.ar]\nmax_lag = 2\n',
            r"models.ar.max_lag: unknown parameter of ar; valid: max_lags",
        ),
        (
            'tickers = ["A"]\n[models.ar]\nmax_lags = "ten"\n',
            r"models.ar.max_lags must be of type int .*'ten'",
        ),
        (
            'tickers = ["A"]\nhorizon = 0\n[models.naive]\n',
            r"horizon must be an integer in 1..250; got 0",
        ),
        ('tickers = ["A"]\nhorizon = true\n[models.naive]\n', r"horizon must be an integer"),
        (
            'tickers = ["A"]\nkeep_versions = 0\n[models.naive]\n',
            r"keep_versions must be an integer >= 1; got 0",
        ),
        (
            'tickers = ["A"]\n[models.naive]\n[refit_every_by_model]\nar = 3\n',
            r"refit_every_by_model.ar: not a configured model",
        ),
        ('tickers = ["A"]\nstore = 3\n[models.naive]\n', r"store must be a file path"),
        ("tickers = [\n", r"not valid TOML"),
        (
            'tickers = ["A"]\ncalendar = "NYSX"\n[models.naive]\n',
            r"calendar: calendar must be .*'NYSX'",
        ),
        (
            'tickers = ["A"]\nintervals = "acl"\n[models.naive]\n',
            r"job.toml: intervals must be one of model, conformal, aci, none; got 'acl'",
        ),
        (
            'tickers = ["A"]\nlevel = 80\n[models.naive]\n',
            r"job.toml: level must be a number between 0 and 1 \(exclusive\); got 80",
        ),
        (
            'tickers = ["A"]\nintervals = "none"\nlevel = 0.9\n[models.naive]\n',
            r"job.toml: level has no effect with intervals = 'none'",
        ),
        (
            'tickers = ["A"]\ncalibration_size = 10\n[models.naive]\n',
            r"job.toml: calibration_size must be 0 \(no bootstrap\) or at least 24 \(20 errors "
            r"at horizon 5\); got 10",
        ),
        (
            'tickers = ["A"]\ninterval_window = 5\n[models.naive]\n',
            r"job.toml: interval_window must be an integer >= 20; got 5",
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(_write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found: .*nope.toml"):
        load_config(tmp_path / "nope.toml")


def test_config_errors_are_value_errors():
    # the command line maps ValueError to exit code 2 (bad config or usage)
    with pytest.raises(ValueError, match="models must configure at least one model"):
        JobConfig(tickers=("A",), models=())
    with pytest.raises(ValueError, match=r"<memory>: unknown key 'x'"):
        config_from_dict({"x": 1})


def test_default_configs_come_from_the_working_directory_else_the_shipped_copy(
    tmp_path, monkeypatch
):
    from forecast.job import config as jobconfig
    from forecast.walkforward import configfile
    from forecast.workflows import compare

    shipped = tmp_path / "site" / "forecast" / "_pipelines"  # as a wheel lays it out
    shipped.mkdir(parents=True)
    for name in ("daily.toml", "compare.toml"):
        (shipped / name).write_text("# shipped\n")
    monkeypatch.setattr(configfile, "_SHIPPED_DIRS", (tmp_path / "no-checkout", shipped))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert jobconfig.default_config_path() == shipped / "daily.toml"
    assert compare.default_config_path() == shipped / "compare.toml"
    (work / "pipelines").mkdir()
    (work / "pipelines" / "daily.toml").write_text("# mine\n")
    assert jobconfig.default_config_path() == Path("pipelines") / "daily.toml"
    monkeypatch.setattr(configfile, "_SHIPPED_DIRS", ())
    with pytest.raises(ConfigError, match=r"pipelines/compare\.toml.*pass --config PATH"):
        compare.default_config_path()
