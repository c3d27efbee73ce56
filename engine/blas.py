"""An optimized BLAS under MLX on Linux, loaded once, before any ``mlx`` import.

Why: MLX's Linux CPU wheel (``mlx[cpu]``) multiplies matrices with the Netlib
reference BLAS it bundles, 20-40x slower than an optimized one. ``libmlx.so``
binds ``cblas_sgemm`` when Python loads it, and the dynamic loader looks in the
process's global symbol scope before a library's own dependencies, so a BLAS
opened with ``RTLD_GLOBAL`` *before* ``import mlx.core`` is the one MLX calls.

The one place: ``engine/__init__.py`` imports this module first, and
``models/__init__.py`` and ``tui/__init__.py`` import ``engine`` first, so every
entry point (the console, the CLI, training children, ``mlx.launch`` workers,
tests through ``tests/conftest.py``, benchmarks) has it before MLX. Once MLX is
loaded the choice is fixed: a late call does not load anything and says why.

What and why (docs/architecture.md, "An optimized BLAS under MLX"): Intel's MKL
from PyPI's ``mkl`` wheel (a runtime dependency on Linux x86_64). It is the
only optimized BLAS on PyPI that exports the standard ``cblas_*`` names and
needs no system library (the OpenBLAS wheels with standard names need the
system's ``libgfortran.so.5``; SciPy's OpenBLAS wheels prefix their symbols).
It is large (about 230 MB to download) but fast on Intel and good on AMD
(AVX2 kernels). It runs sequential (one thread, no OpenMP pool): the model's
products are small, and on a 2-core machine the console's MLX thread shares
the cores with the UI.

Overrides: ``AVWAP_BLAS=reference`` keeps MLX's bundled BLAS;
``AVWAP_BLAS=/path/to/libopenblas.so.0`` (or any library exporting
``cblas_sgemm``) loads that one instead. ``MKL_THREADING_LAYER`` and
``MKL_NUM_THREADS``, when set, are MKL's own and win. macOS changes nothing:
MLX uses Accelerate there.

Detection is timing-free: after loading, ``cblas_sgemm`` is looked up in the
global scope (what ``libmlx.so`` binds first) and ``dladdr`` names the library
that provides it. Without one there, MLX uses its bundled reference BLAS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ENV = "AVWAP_BLAS"
_MKL_SEQUENTIAL = 1  # MKL_THREADING_SEQUENTIAL in mkl_service.h


@dataclass(frozen=True)
class BlasInfo:
    """Which BLAS MLX multiplies with, and why."""

    name: str  # "MKL 2026.2", "OpenBLAS 0.3.33 …", "Accelerate", "reference (bundled)"
    path: str  # the library providing cblas_sgemm ("" when none is in the global scope)
    fast: bool  # an optimized BLAS (or Accelerate) is in use
    note: str  # why the reference is used, or how the fast one runs

    def describe(self) -> str:
        """One line for ``avwap --version`` and the benchmarks."""
        return f"{self.name} ({self.note})" if self.note else self.name


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def provider(symbol: str = "cblas_sgemm") -> str:
    """Path of the library that provides ``symbol`` in the global scope, "" if none."""
    try:
        glob = ctypes.CDLL(None)
        addr = ctypes.cast(getattr(glob, symbol), ctypes.c_void_p).value
    except (AttributeError, OSError):
        return ""
    dl = glob if hasattr(glob, "dladdr") else ctypes.CDLL(ctypes.util.find_library("dl"))
    info = _DlInfo()
    if not addr or not dl.dladdr(ctypes.c_void_p(addr), ctypes.byref(info)):
        return ""
    return os.path.realpath((info.dli_fname or b"").decode())


def _mkl_path() -> Path | None:
    """``libmkl_rt.so.N`` of the installed ``mkl`` wheel (its files live in ``<prefix>/lib``)."""
    from importlib import metadata

    try:
        files = metadata.files("mkl") or []
    except metadata.PackageNotFoundError:
        return None
    libs = sorted((f for f in files if f.name.startswith("libmkl_rt.so")), key=str)
    for f in libs:
        path = Path(str(f.locate())).resolve()
        if path.exists():
            return path
    return None


def _name_of(lib: ctypes.CDLL, path: str) -> str:
    """A human name with the version the library reports about itself."""
    if hasattr(lib, "MKL_Get_Version_String"):
        buf = ctypes.create_string_buffer(256)
        lib.MKL_Get_Version_String(buf, len(buf))
        words = buf.value.decode(errors="replace").split()
        version = next((w.split("-")[0] for w in words if w[:1].isdigit()), "")
        return f"MKL {version}".strip()
    if hasattr(lib, "openblas_get_config"):
        lib.openblas_get_config.restype = ctypes.c_char_p
        return f"OpenBLAS ({lib.openblas_get_config().decode(errors='replace').strip()})"
    return Path(path).name


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    if hasattr(lib, "MKL_Set_Threading_Layer") and "MKL_THREADING_LAYER" not in os.environ:
        # before any other MKL call: no OpenMP pool spinning beside the UI thread
        lib.MKL_Set_Threading_Layer(_MKL_SEQUENTIAL)
    return lib


def _reference(why: str) -> BlasInfo:
    return BlasInfo("reference BLAS bundled with mlx (slow)", provider(), False, why)


def _choose() -> BlasInfo:
    if sys.platform == "darwin":
        return BlasInfo("Accelerate", "", True, "macOS: MLX's own")
    if not sys.platform.startswith("linux"):
        return _reference(f"no optimized BLAS is set up on {sys.platform}")
    if "mlx.core" in sys.modules:
        return _reference("mlx was imported before engine.blas; import engine first")
    want = os.environ.get(ENV, "").strip()
    if want == "reference":
        return _reference(f"{ENV}=reference")
    if want and want != "auto":
        path: Path | None = Path(want).expanduser()
        source = f"{ENV}={want}"
    else:
        path = _mkl_path()
        source = "the mkl package"
        if path is None:
            return _reference("the mkl package is not installed: pip install mkl")
    try:
        lib = _load(path)  # type: ignore[arg-type]
    except OSError as e:
        return _reference(f"{source} could not be loaded: {e}")
    where = provider()
    if not where:
        return _reference(f"{source} loaded but exports no cblas_sgemm")
    threads = "sequential" if hasattr(lib, "MKL_Set_Threading_Layer") else ""
    return BlasInfo(_name_of(lib, where), where, True,
                    ", ".join(p for p in (source if want else "", threads) if p))


_INFO: BlasInfo | None = None


def ensure() -> BlasInfo:
    """Load the optimized BLAS (once per process) and say which one MLX uses."""
    global _INFO
    if _INFO is None:
        _INFO = _choose()
    return _INFO


ensure()
