"""The compiled loops of the recurrent layers (``recurrence.c``): built once per machine,
loaded through :mod:`ctypes`.

The C file ships with the package. The first time a net trains on a machine, this module compiles it
with the system's C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``) into a shared library for
that precision (float32 for the nets; float64 when a float64 net trains, as in the gradient checks),
about a second each; later runs load it from the cache folder. The build is keyed by the source, the
flags, the compiler's version and the CPU's features (``-march=native``), so a changed file or
machine builds afresh; it goes to a temporary name first and is renamed into place, so concurrent
first runs (worker processes) never load half a file.

Without a C compiler, or with ``FORECAST_KERNELS=0``, :func:`library` returns ``None`` and
the layers train through torch operations instead (slower; the same functions to float
rounding). A failed build says so once, on stderr, with the compiler's first error line.

The folder is ``FORECAST_KERNEL_DIR`` if set, else ``kernels`` in the project cache folder
(``FORECAST_CACHE_DIR``, else the user's cache dir: the rule of
``forecast.data.cache.default_cache_dir``, restated here because models may not import the
data room).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SOURCE = Path(__file__).with_name("recurrence.c")
#: -fno-trapping-math and -fno-math-errno let the compiler vectorise the branch-free clamps and
#: the square roots; neither changes a value
FLAGS = ("-O3", "-march=native", "-fno-trapping-math", "-fno-math-errno", "-fPIC", "-shared")
PRECISIONS = {"float32": (), "float64": ("-DREAL=double", "-DREAL_IS_DOUBLE=1")}

_P, _I = ctypes.c_void_p, ctypes.c_int64
#: each entry point's arguments: pointers, then the sizes (see recurrence.c)
SIGNATURES = {
    "rnn_forward": (_P,) * 6 + (_I,) * 4,
    "rnn_backward": (_P,) * 6 + (_I,) * 3,
    "gru_forward": (_P,) * 9 + (_I,) * 4,
    "gru_backward": (_P,) * 10 + (_I,) * 3,
    "lstm_forward": (_P,) * 8 + (_I,) * 4,
    "lstm_backward": (_P,) * 7 + (_I,) * 3,
    "adam_step": (_P,) * 4 + (_I,) + (ctypes.c_double,) * 6,
}

_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL | None] = {}


def enabled() -> bool:
    """Whether the compiled loops may be used (``FORECAST_KERNELS=0`` turns them off)."""
    return os.environ.get("FORECAST_KERNELS", "1").strip() not in ("0", "false", "no", "off")


def library(precision: str) -> ctypes.CDLL | None:
    """The loaded library for ``"float32"`` or ``"float64"``, building it on first use;
    ``None`` when turned off or when it cannot be built (then training uses torch ops)."""
    if not enabled() or precision not in PRECISIONS:
        return None
    if precision in _loaded:
        return _loaded[precision]
    with _lock:
        if precision not in _loaded:
            _loaded[precision] = _load(precision)
    return _loaded[precision]


def kernel_dir() -> Path:
    """Where the built libraries live (see the module)."""
    env = os.environ.get("FORECAST_KERNEL_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("FORECAST_CACHE_DIR")
    if base:
        return Path(base).expanduser() / "kernels"
    import platformdirs

    return Path(platformdirs.user_cache_dir("forecast", appauthor=False)) / "kernels"


def compiler() -> str | None:
    """The C compiler: ``$CC``, else the first of ``cc``, ``gcc``, ``clang`` on the PATH."""
    env = os.environ.get("CC")
    if env:
        return env
    return next((found for name in ("cc", "gcc", "clang") if (found := shutil.which(name))), None)


def build_key(cc: str, precision: str) -> str:
    """A hash of everything the built file depends on."""
    parts = [SOURCE.read_bytes(), " ".join(FLAGS + PRECISIONS[precision]).encode()]
    parts += [_version(cc).encode(), platform.machine().encode(), _cpu_features().encode()]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def _version(cc: str) -> str:
    # the compiler is the user's own ($CC or the PATH), run with a fixed argument list
    return subprocess.run(  # noqa: S603
        [cc, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout


def _cpu_features() -> str:
    """The CPU's feature flags (``-march=native`` builds for them), where the OS tells."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _load(precision: str) -> ctypes.CDLL | None:
    cc = compiler()
    if cc is None:
        return None
    try:
        path = kernel_dir() / f"recurrence-{precision}-{build_key(cc, precision)}.so"
        if not path.exists():
            _build(cc, precision, path)
        lib = ctypes.CDLL(str(path))
        for name, argtypes in SIGNATURES.items():
            function = getattr(lib, name)
            function.argtypes, function.restype = argtypes, None
        return lib
    except (OSError, subprocess.SubprocessError, AttributeError) as exc:
        message = str(exc).strip().splitlines()
        print(
            f"forecast: the recurrent layers' C loops could not be built or loaded "
            f"({message[0] if message else type(exc).__name__}); training uses torch "
            f"operations instead (slower). FORECAST_KERNELS=0 silences this.",
            file=sys.stderr,
        )
        return None


def _build(cc: str, precision: str, path: Path) -> None:
    """Compile into a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
    os.close(fd)
    try:
        cmd = [cc, *FLAGS, *PRECISIONS[precision], "-o", tmp, str(SOURCE), "-lm"]
        done = subprocess.run(  # noqa: S603 (as in _version)
            cmd, capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode:
            errors = [line for line in done.stderr.splitlines() if "error" in line]
            raise OSError((errors or done.stderr.splitlines() or ["compiler failed"])[0])
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
