"""Saving and loading models: bit-exact round trips, and files that must be refused."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import price_series, tiny

import forecast
from forecast.errors import ModelFileError
from forecast.models import available_models, get_model
from forecast.models.loading import model_from_files
from forecast.models.saving import model_files


@pytest.fixture(scope="module")
def series():
    return price_series(320, phi=0.2, seed=3)


@pytest.fixture(scope="module")
def gru(series):
    return tiny(get_model("gru", n_models=2)).fit(series.iloc[:300])


def saved(model, folder: Path, name: str = "model.json") -> Path:
    return model.save(folder / name)


def rewrite(path: Path, change) -> None:
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def record_sha(path: Path) -> None:
    """Write the current weights file's sha256 into the manifest (an attacker can do it)."""
    weights = path.with_suffix(".pt").read_bytes()
    rewrite(path, lambda m: m["weights"].update(sha256=hashlib.sha256(weights).hexdigest()))


# ---- round trips ------------------------------------------------------------------------
@pytest.mark.parametrize("name", available_models())
def test_round_trip_is_bit_exact(name, series, tmp_path):
    model = tiny(get_model(name)).fit(series.iloc[:300])
    loaded = forecast.load_model(saved(model, tmp_path))
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    for history in (None, series, series.iloc[:310]):
        expected = model.predict(7, history=history).to_numpy()
        np.testing.assert_array_equal(loaded.predict(7, history=history).to_numpy(), expected)
    y = np.log(series.to_numpy())
    ends = np.array([300, 305, 320])
    np.testing.assert_array_equal(
        loaded.forecast_log_paths(y, ends, 3), model.forecast_log_paths(y, ends, 3)
    )


def test_manifest_holds_name_params_fitted_and_the_weights_hash(gru, tmp_path):
    path = saved(gru, tmp_path)
    manifest = json.loads(path.read_text())
    assert manifest["format"] == "forecast-model" and manifest["format_version"] == 1
    assert manifest["model"] == "gru" and manifest["params"] == gru.get_params()
    fitted = manifest["fitted"]
    assert fitted["mean_"] == gru.mean_ and fitted["n_epochs_"] == gru.n_epochs_
    prices = fitted["train_log_prices_"]
    assert prices["dtype"] == "float64" and prices["shape"] == [300]
    assert "nets_" not in fitted  # the nets live in the weights file
    weights = path.with_suffix(".pt").read_bytes()
    assert manifest["weights"] == {
        "file": "model.pt",
        "bytes": len(weights),
        "sha256": hashlib.sha256(weights).hexdigest(),
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.pt"]


def test_baseline_writes_no_weights_file(series, tmp_path):
    path = saved(get_model("ar").fit(series), tmp_path)
    assert json.loads(path.read_text())["weights"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]


def test_in_memory_files_round_trip(gru, series):
    files = model_files(gru, "gru.json")
    assert list(files) == ["gru.pt", "gru.json"]  # weights first, the manifest last
    loaded = model_from_files(files, "gru.json")
    np.testing.assert_array_equal(loaded.predict(3).to_numpy(), gru.predict(3).to_numpy())


def test_loaded_neural_model_refits_and_warm_starts(gru, series, tmp_path):
    loaded = forecast.load_model(saved(gru, tmp_path)).set_params(warm_start=True)
    loaded.fit(series)
    assert loaded.warm_started_ and loaded.n_train_ == len(series)


def test_weights_are_read_weights_only_on_the_cpu(gru, tmp_path, monkeypatch):
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    forecast.load_model(saved(gru, tmp_path))
    assert calls == [{"weights_only": True, "map_location": "cpu"}]


# ---- files that must be refused -----------------------------------------------------------
class Payload:
    """Unpickling this runs code: it creates the marker folder."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch, about the payload
@pytest.mark.parametrize("container", ["pickle", "torch.save"])
def test_pickle_payload_in_place_of_the_weights_is_refused_and_never_runs(container, gru, tmp_path):
    marker = tmp_path / "payload-ran"
    evil = {"0.rnn.weight_ih_l0": Payload(marker)}
    # the canary is alive: plain unpickling would run it
    pickle.loads(pickle.dumps(evil))
    assert marker.exists()
    marker.rmdir()

    path = saved(gru, tmp_path)
    weights = path.with_suffix(".pt")
    if container == "pickle":
        weights.write_bytes(pickle.dumps(evil))
    else:
        torch.save(evil, weights)
    with pytest.raises(ModelFileError, match=r"model\.pt: sha256 .* is not the .* recorded"):
        forecast.load_model(path)
    record_sha(path)  # a forger who rewrites the manifest too meets weights_only
    with pytest.raises(ModelFileError, match=r"model\.pt: not a valid weights file.*weights_only"):
        forecast.load_model(path)
    assert not marker.exists()


def test_truncated_weights_are_refused_clearly(gru, tmp_path):
    path = saved(gru, tmp_path)
    weights = path.with_suffix(".pt")
    weights.write_bytes(weights.read_bytes()[:500])
    with pytest.raises(ModelFileError, match=r"model\.pt: sha256 .*truncated, corrupt"):
        forecast.load_model(path)
    record_sha(path)
    with pytest.raises(ModelFileError, match=r"model\.pt: not a valid weights file"):
        forecast.load_model(path)


def test_truncated_manifest_is_refused_clearly(gru, tmp_path):
    path = saved(gru, tmp_path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFileError, match=r"model\.json: not a readable model file"):
        forecast.load_model(path)


def test_weights_of_another_shape_are_refused(gru, tmp_path):
    path = saved(gru, tmp_path)
    rewrite(path, lambda m: m["params"].update(hidden_size=5))
    with pytest.raises(ModelFileError, match=r"model\.pt: the weights do not fit gru with "):
        forecast.load_model(path)


def test_weights_of_another_model_are_refused(gru, series, tmp_path):
    lstm = saved(tiny(get_model("lstm")).fit(series), tmp_path, "lstm.json")
    path = saved(gru, tmp_path)
    path.with_suffix(".pt").write_bytes(lstm.with_suffix(".pt").read_bytes())
    record_sha(path)
    with pytest.raises(ModelFileError, match="the weights do not fit gru"):
        forecast.load_model(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(format_version=2), "format version 2 is not supported"),
        (lambda m: m.update(format="other"), 'not a forecast model file \\(no "format"'),
        (lambda m: m.update(model="prophet"), "unknown model 'prophet'; valid models: naive"),
        (lambda m: m["params"].update(colour=1), r"parameters \[.*\] are not those of gru"),
        (lambda m: m["fitted"].update(fit=1), "'fit' is not a fitted attribute name"),
        (lambda m: m["fitted"].update(__class__=1), "'__class__' is not a fitted attribute"),
        (lambda m: m["fitted"].update(nets_=[]), "'nets_' belongs in the weights file"),
        (lambda m: m.update(weights=None), "names no weights file; a gru model needs one"),
        (lambda m: m["weights"].update(file="../x.pt"), "plain .pt file name next to it"),
        (lambda m: m["weights"].update(file="model.pkl"), "plain .pt file name"),
        (lambda m: m["weights"].update(sha256="abc"), "sha256 must be 64 hex digits"),
        (lambda m: m["params"].update(window=1), "invalid parameters: window must be"),
        (
            lambda m: m["fitted"]["train_log_prices_"].update(shape=[301]),
            "2400 bytes do not make an array of shape \\[301\\]",
        ),
        (
            lambda m: m["fitted"]["train_log_prices_"].update(dtype="object"),
            "array dtype 'object' is not one of",
        ),
    ],
)
def test_altered_manifest_is_refused_naming_the_file(gru, tmp_path, change, message):
    path = saved(gru, tmp_path)
    rewrite(path, change)
    with pytest.raises(ModelFileError, match=message) as info:
        forecast.load_model(path)
    assert str(info.value).startswith(str(tmp_path))


def test_missing_files_are_refused(gru, tmp_path):
    with pytest.raises(ModelFileError, match=r"nothing\.json: no such model file"):
        forecast.load_model(tmp_path / "nothing.json")
    path = saved(gru, tmp_path)
    path.with_suffix(".pt").unlink()
    with pytest.raises(ModelFileError, match=r"model\.pt: no such model file"):
        forecast.load_model(path)
    with pytest.raises(ModelFileError, match=r"a model file is a \.json manifest; got '\.pt'"):
        forecast.load_model(path.with_suffix(".pt"))


def test_weights_file_for_a_model_without_weights_is_refused(series, tmp_path):
    path = saved(get_model("naive").fit(series), tmp_path)
    saved(tiny(get_model("rnn")).fit(series), tmp_path, "rnn.json")
    sha = hashlib.sha256((tmp_path / "rnn.pt").read_bytes()).hexdigest()
    rewrite(path, lambda m: m.update(weights={"file": "rnn.pt", "sha256": sha}))
    with pytest.raises(ModelFileError, match=r"rnn\.pt: a naive model has no weights file"):
        forecast.load_model(path)


def test_save_needs_a_fitted_model_and_a_json_path(series, tmp_path):
    with pytest.raises(RuntimeError, match=r"ar: call fit\(series\) before save"):
        get_model("ar").save(tmp_path / "m.json")
    with pytest.raises(ValueError, match=r"path must end with \.json; got '.*m\.pkl'"):
        get_model("ar").fit(series).save(tmp_path / "m.pkl")


def test_nan_fitted_values_round_trip(series, tmp_path):
    model = get_model("drift").fit(series)
    model.extra_ = [float("nan"), np.float64("inf"), np.array([np.nan, 1.0])]
    loaded = forecast.load_model(saved(model, tmp_path))
    assert np.isnan(loaded.extra_[0]) and loaded.extra_[1] == np.inf
    np.testing.assert_array_equal(loaded.extra_[2], [np.nan, 1.0])


def test_no_module_uses_pickle():
    """Model files are JSON and weights-only state_dicts: nothing in the package unpickles."""
    package = Path(forecast.__file__).parent
    pattern = re.compile(r"^\s*(import|from)\s+(pickle|cPickle|joblib|cloudpickle|dill)\b", re.M)
    users = [p.name for p in package.rglob("*.py") if pattern.search(p.read_text())]
    assert users == []
    source = "\n".join(p.read_text() for p in package.rglob("*.py"))
    assert "weights_only=False" not in source
