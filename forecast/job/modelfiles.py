"""Model files of the scheduled job: safe names, atomic writes, checked reads.

Each fitted model version is one folder under the models folder::

    models/<ticker key>/<model>/<trained through>-<spec hash>/
        model.json            (and a state_dict file for the neural models)

written by :func:`write_version` through a temporary folder that is fsynced and renamed into
place, so a crash leaves either the whole version or a ``.tmp-*`` leftover that the next run
removes. The store records the folder's :func:`digest`; :func:`read_version` checks it
**before** anything is deserialised, and deserialising never uses pickle.

A ticker never becomes a path component as typed: :func:`ticker_key` maps it to a name of
letters, digits and ``_`` that cannot be ``..``, hold a separator or be a reserved device name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

from forecast.errors import ModelFileError

#: the models folder holds nothing larger (a state_dict of the configured nets is ~100 kB)
MAX_FILE_BYTES = 64 * 1024 * 1024
_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def ticker_key(ticker: str) -> str:
    """A file-name-safe, reversible key for ``ticker``: ``^GSPC`` -> ``T__5EGSPC``.

    Every character outside ``A-Z0-9`` becomes ``_`` and its two hex digits; the ``T_``
    prefix keeps ``CON`` or ``NUL`` from being a Windows device name.
    """
    return "T_" + "".join(c if c in _SAFE else f"_{ord(c):02X}" for c in ticker)


def version_dir(ticker: str, model: str, trained_through: str, spec_hash: str) -> str:
    """The relative folder of one model version, ``/``-separated."""
    spec = spec_hash.split(":")[-1][:12]
    return f"{ticker_key(ticker)}/{model}/{trained_through}-{spec}"


def inside(base: Path, relative: str) -> Path:
    """``base / relative``, refusing anything that resolves outside ``base``."""
    base = base.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or target == base:
        raise ModelFileError(f"model file path {relative!r} leaves the models folder {base}")
    return target


def digest(files: Mapping[str, bytes]) -> str:
    """The sha256 of a version: of its ``sha256sum``-style listing, sorted by file name.

    So ``cd <version folder> && sha256sum * | sha256sum`` reproduces it (file names sort
    the same way in the C locale).
    """
    listing = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())
    )
    return hashlib.sha256(listing.encode()).hexdigest()


def write_version(models_dir: Path, relative: str, files: Mapping[str, bytes]) -> None:
    """Write a version folder atomically: temp folder, fsync, rename, fsync the parent.

    An existing folder at the same place (left by a run killed between this write and its
    commit) is replaced.
    """
    final = inside(models_dir, relative)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name, data in files.items():
            _check_name(name)
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if final.exists():
            trash = final.parent / f".tmp-old-{final.name}-{uuid.uuid4().hex[:8]}"
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_version(models_dir: Path, relative: str, sha256: str) -> dict[str, bytes]:
    """The files of a version, after checking them against ``sha256``.

    Raises
    ------
    ModelFileError
        The folder is missing, holds something other than plain files, or its digest is not
        the recorded one (a corrupt or tampered file).
    """
    folder = inside(models_dir, relative)
    if not folder.is_dir():
        raise ModelFileError(f"model file folder is missing: {folder}")
    files: dict[str, bytes] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink() or not entry.is_file():
            raise ModelFileError(f"model folder {folder} holds {entry.name!r}, not a plain file")
        if entry.stat().st_size > MAX_FILE_BYTES:
            raise ModelFileError(
                f"model file {entry} is {entry.stat().st_size} bytes; the limit is {MAX_FILE_BYTES}"
            )
        files[entry.name] = entry.read_bytes()
    found = digest(files)
    if found != sha256:
        raise ModelFileError(
            f"model files in {folder} do not match the store: sha256 {found[:16]}... "
            f"!= recorded {sha256[:16]}... (corrupt or tampered)"
        )
    return files


def remove_version(models_dir: Path, relative: str) -> None:
    """Delete a version folder (retention); a missing folder is fine."""
    folder = inside(models_dir, relative)
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):  # tidy emptied model/ticker folders
        try:
            parent.rmdir()
        except OSError:
            break


def clean_temporary(models_dir: Path) -> int:
    """Remove ``.tmp-*`` folders left by killed runs; return how many. Call under the lock."""
    if not models_dir.is_dir():
        return 0
    removed = 0
    for tmp in models_dir.glob("*/*/.tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
        removed += 1
    return removed


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ModelFileError(f"model file name must be a plain file name; got {name!r}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
