"""The job config: every key checked, errors name the file, the key and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecast.errors import ConfigError
from forecast.jobconfig import JobConfig, config_from_dict, load_config

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

    assert [m.name for m in config.models] == available_models()  # all models


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("horizn = 5\n", r"job.toml: unknown key 'horizn'; valid keys: .*horizon"),
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
        ("tickers = [\n", r"is not valid TOML"),
        (
            'tickers = ["A"]\ncalendar = "NYSX"\n[models.naive]\n',
            r"calendar: calendar must be .*'NYSX'",
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
