import os

# Tests compile many small programs and run each a few times: XLA's backend optimisation
# (LLVM -O2 by default) costs more compile time than it saves in run time here, so the test
# processes turn it off, as train_support.subprocess_env does for the worker processes.
# Set before JAX is imported (it reads XLA_FLAGS once).
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                             + " --xla_backend_optimization_level=0").strip()
# Many tests build the same small programs afresh (a new jit per trainer, model or CLI call):
# the persistent compilation cache, shared by the xdist workers and inherited by the
# subprocesses they start (train_support.subprocess_env), compiles each once per machine.
import tempfile  # noqa: E402

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), f"vmas_jax_test_cache_{os.getuid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_configure(config):
  """Compile librosa's numba beat tracker once, in the main pytest process, before any
  xdist worker starts: librosa caches it (numba `cache=True`), so the workers load it instead
  of compiling it themselves; compiling it inside xdist workers has crashed them (SIGSEGV in
  the freshly compiled gufunc), which no worker that loads the cached code has done."""
  if hasattr(config, "workerinput"):  # an xdist worker: the main process did it already
    return
  from vmas_jax.beats import music_beat_curve
  wav = np.random.default_rng(0).standard_normal(32000).astype(np.float32)
  music_beat_curve(wav, 32000, 50)


def pytest_collection_modifyitems(config, items):
  """Tests marked `long` run first (the rest keep their order): with `-n 2` the long ones then
  spread over the workers at the start, and the run ends on short tests instead of one
  worker finishing a minute-long test while the other waits."""
  items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture
def torch_one_thread():
  """Run the PyTorch reference on one thread: the reference models are small, and torch's
  thread pool spinning on 2 shared cores costs seconds per call, one thread milliseconds."""
  torch = pytest.importorskip("torch")
  n = torch.get_num_threads()
  torch.set_num_threads(1)
  yield
  torch.set_num_threads(n)
