"""A CPU kernel for products with a few rows: y[G, M, N] = x[G, M, K] @ w[G, K, N], M <= 8.

A decoding step multiplies one or two activation rows (two with classifier-free guidance) by
every weight matrix, so on a CPU it is bound by how fast the weights stream from memory.  XLA
CPU's dot reads the weights of a 2-row product at about half its 1-row rate; this kernel reads
each matrix once for all rows, split over XLA's intra-op threads (on the 2-core development
machine: 29 GB/s against XLA's 15 for a chain of [2, 1024] x [1024, 4096] products).

The C++ source (`rows_matmul.cc`, an XLA FFI handler) is compiled on first use with the host's
C++ compiler against the installed jaxlib's FFI headers, with `-march=native`, and cached
under `$VMAS_KERNEL_CACHE` (default `~/.cache/vmas_jax/kernels`) keyed by the source, jaxlib
and the CPU.  Without a working compiler `available()` is False and `matmul` is the XLA
product; `VMAS_CPU_KERNELS=0` turns the kernel off.
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
import jax.numpy as jnp

MAX_ROWS = 8
_TARGET = "vmas_rows_matmul"
_SOURCE = Path(__file__).with_name("rows_matmul.cc")
log = logging.getLogger(__name__)


def _cpu_signature() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith(("flags", "Features")):
        return line
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _compile(out: Path) -> None:
  """Compiles the handler into `out` (written whole or not at all)."""
  cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or "clang++"
  flags = ["-O3", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=fast", "-march=native"]
  if platform.machine() in ("x86_64", "AMD64"):
    flags.append("-mprefer-vector-width=512")  # where AVX-512 exists, use it for the stream
  out.parent.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
    lib = Path(tmp) / out.name
    cmd = [cxx, *flags, "-w", "-I", jax.ffi.include_dir(), "-o", str(lib), str(_SOURCE)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
      raise RuntimeError(f"compiling {_SOURCE.name} failed ({' '.join(cmd)}):\n"
                         f"{done.stderr[-2000:]}")
    os.replace(lib, out)  # atomic: a concurrent process sees the old file or the whole new one


@functools.lru_cache(maxsize=None)
def available() -> bool:
  """Builds (once per machine), loads and registers the kernel; False where it cannot."""
  if os.environ.get("VMAS_CPU_KERNELS", "1") == "0":
    return False
  import jaxlib
  key = hashlib.sha256(b"\0".join([_SOURCE.read_bytes(), jaxlib.__version__.encode(),
                                   _cpu_signature().encode()])).hexdigest()[:16]
  cache = Path(os.environ.get("VMAS_KERNEL_CACHE")
               or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vmas_jax"
               / "kernels")
  lib_path = cache / f"rows_matmul-{key}.so"
  try:
    if not lib_path.exists():
      _compile(lib_path)
    lib = ctypes.cdll.LoadLibrary(str(lib_path))
    jax.ffi.register_ffi_target(_TARGET, jax.ffi.pycapsule(lib.VmasRowsMatmul), platform="cpu")
  except Exception as e:  # no compiler, read-only cache, foreign platform: use XLA's dot
    log.warning("the CPU rows kernel is unavailable (%s); using XLA's dot", e)
    return False
  return True


def _xla(x, w):
  return jnp.einsum("gmk,gkn->gmn", x, w, preferred_element_type=jnp.float32)


@jax.custom_jvp
def _kernel(x, w):
  out = jax.ShapeDtypeStruct(x.shape[:-1] + w.shape[-1:], jnp.float32)
  return jax.ffi.ffi_call(_TARGET, out, vmap_method="sequential")(x, w)


@_kernel.defjvp
def _kernel_jvp(primals, tangents):  # the product is bilinear; derivatives through XLA
  (x, w), (dx, dw) = primals, tangents
  return _kernel(x, w), _xla(dx, w) + _xla(x, dw)


def usable(x, w) -> bool:
  """Whether `matmul` would run the kernel for these operands (shapes as `matmul`'s)."""
  return (x.dtype == jnp.float32 and w.dtype == jnp.float32 and 1 <= x.shape[-2] <= MAX_ROWS
          and available())


def matmul(x, w):
  """x [G, M, K] @ w [G, K, N] -> [G, M, N] fp32: the kernel on CPU where `usable`, else XLA.

  On other platforms (GPU, TPU) the XLA product is what lowers, so a function using this can
  be jitted anywhere.
  """
  if not usable(x, w):
    return _xla(x, w)
  return jax.lax.platform_dependent(x, w, cpu=_kernel, default=_xla)
