"""Model files: safe names, atomic version folders, sha256 checked before any load."""

from __future__ import annotations

import hashlib
import os

import pytest

from forecast.errors import ModelFileError
from forecast.job import modelfiles as mf

SPECIAL = ["AAPL", "BRK-B", "^GSPC", "EURUSD=X", "GC=F", "0700.HK", "M&M.NS", "CON", "NUL", "LPT1"]
FILES = {"model.json": b'{"a": 1}', "model.state.pt": b"\x00\x01weights"}


def test_ticker_keys_are_safe_and_unique():
    keys = [mf.ticker_key(t) for t in SPECIAL]
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert key.startswith("T_") and all(c.isalnum() or c == "_" for c in key)
    assert mf.ticker_key("^GSPC") == "T__5EGSPC"
    assert mf.ticker_key("CON") == "T_CON"  # never a bare Windows device name
    # injective even against a ticker that spells another's encoding
    assert mf.ticker_key("A_2D") != mf.ticker_key("A-")


def test_paths_never_leave_the_models_folder(tmp_path):
    for bad in ("../x", "T_A/../../x", "/etc/passwd", ""):
        with pytest.raises(ModelFileError, match="leaves the models folder"):
            mf.inside(tmp_path, bad)
    assert mf.inside(tmp_path, "T_A/ar/v1") == (tmp_path / "T_A/ar/v1").resolve()


def test_digest_is_sha256sum_of_the_listing():
    listing = "".join(
        f"{hashlib.sha256(FILES[n]).hexdigest()}  {n}\n" for n in sorted(FILES)
    ).encode()
    assert mf.digest(FILES) == hashlib.sha256(listing).hexdigest()


def test_write_then_read_round_trips(tmp_path):
    rel = mf.version_dir("^GSPC", "lstm", "2013-03-01", "sha256:0123456789abcdef")
    assert rel == "T__5EGSPC/lstm/2013-03-01-0123456789ab"
    mf.write_version(tmp_path, rel, FILES)
    assert mf.read_version(tmp_path, rel, mf.digest(FILES)) == FILES
    mf.write_version(tmp_path, rel, {"model.json": b"{}"})  # replaces a leftover version
    assert sorted(os.listdir(tmp_path / rel)) == ["model.json"]
    assert not list(tmp_path.glob("**/.tmp-*"))


@pytest.mark.parametrize(
    "damage",
    ["flip", "truncate", "empty", "append", "extra_file", "missing_file", "swap", "symlink"],
)
def test_damaged_versions_are_refused(tmp_path, damage):
    rel = "T_A/ar/v1"
    mf.write_version(tmp_path, rel, FILES)
    sha = mf.digest(FILES)
    folder = tmp_path / rel
    path = folder / "model.state.pt"
    if damage == "flip":
        data = bytearray(path.read_bytes())
        data[0] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:3])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "append":
        path.write_bytes(path.read_bytes() + b"junk")
    elif damage == "extra_file":
        (folder / "evil.pkl").write_bytes(b"cos\nsystem\n")
    elif damage == "missing_file":
        path.unlink()
    elif damage == "swap":
        mf.write_version(tmp_path, rel, {"model.json": b'{"a": 2}', "model.state.pt": b"x"})
    elif damage == "symlink":
        path.unlink()
        path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ModelFileError, match=r"(do not match the store|not a plain file)"):
        mf.read_version(tmp_path, rel, sha)


def test_missing_folder_and_bad_names(tmp_path):
    with pytest.raises(ModelFileError, match="model file folder is missing"):
        mf.read_version(tmp_path, "T_A/ar/none", "0" * 64)
    with pytest.raises(ModelFileError, match="plain file name"):
        mf.write_version(tmp_path, "T_A/ar/v2", {"../x": b""})
    assert not (tmp_path / "T_A/ar/v2").exists()
    assert not list(tmp_path.glob("**/.tmp-*"))


def test_clean_temporary_and_remove(tmp_path):
    mf.write_version(tmp_path, "T_A/ar/v1", FILES)
    (tmp_path / "T_A/ar/.tmp-v2-1234").mkdir()
    assert mf.clean_temporary(tmp_path) == 1
    assert (tmp_path / "T_A/ar/v1").is_dir()
    mf.remove_version(tmp_path, "T_A/ar/v1")
    assert not (tmp_path / "T_A").exists()  # emptied folders go too
    mf.remove_version(tmp_path, "T_A/ar/v1")  # already gone: fine
