"""Builds and loads the native CPU kernels (`*.cc` here, XLA FFI handlers) on first use.

The sources are compiled together with the host's C++ compiler against the installed
jaxlib's FFI headers, with `-march=native`, into one library cached under
`$VMAS_KERNEL_CACHE` (default `~/.cache/vmas_jax/kernels`) and keyed by the sources, jaxlib
and the CPU, so a machine builds it once (about 10 s).  Without a working compiler
`available()` is False (with one warning) and every caller uses its XLA path;
`VMAS_CPU_KERNELS=0` turns the kernels off.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import jax

_HERE = Path(__file__).parent
# FFI target name -> the handler symbol its source defines
TARGETS = {"vmas_rows_matmul": "VmasRowsMatmul"}
log = logging.getLogger(__name__)


def _sources() -> list[Path]:
  return sorted(_HERE.glob("*.cc")) + sorted(_HERE.glob("*.h"))


def _cpu_signature() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith(("flags", "Features")):
        return line
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _compile(out: Path) -> None:
  """Compiles the sources into `out` (written whole or not at all)."""
  cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or "clang++"
  flags = ["-O3", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=fast", "-march=native",
           "-pthread"]
  if platform.machine() in ("x86_64", "AMD64"):
    flags.append("-mprefer-vector-width=512")  # where AVX-512 exists, use it for the streams
  out.parent.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
    lib = Path(tmp) / out.name
    sources = [str(p) for p in _sources() if p.suffix == ".cc"]
    cmd = [cxx, *flags, "-w", "-I", jax.ffi.include_dir(), "-o", str(lib), *sources]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
      raise RuntimeError(f"compiling the CPU kernels failed ({' '.join(cmd)}):\n"
                         f"{done.stderr[-2000:]}")
    os.replace(lib, out)  # atomic: a concurrent process sees no file or the whole of it


@functools.lru_cache(maxsize=None)
def available() -> bool:
  """Builds (once per machine), loads and registers the kernels; False where it cannot."""
  if os.environ.get("VMAS_CPU_KERNELS", "1") == "0":
    return False
  import jaxlib
  digest = hashlib.sha256(jaxlib.__version__.encode() + _cpu_signature().encode())
  for path in _sources():
    digest.update(path.name.encode() + path.read_bytes())
  cache = Path(os.environ.get("VMAS_KERNEL_CACHE")
               or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vmas_jax"
               / "kernels")
  lib_path = cache / f"vmas_cpu_kernels-{digest.hexdigest()[:16]}.so"
  try:
    if not lib_path.exists():
      _compile(lib_path)
    lib = ctypes.cdll.LoadLibrary(str(lib_path))
    for target, symbol in TARGETS.items():
      jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)),
                                  platform="cpu")
  except Exception as e:  # no compiler, read-only cache, foreign platform: XLA's ops
    log.warning("the native CPU kernels are unavailable (%s); using XLA's ops", e)
    return False
  return True
