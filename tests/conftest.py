import os
import tempfile

import numpy as np
import pytest

# librosa compiles its beat tracker with numba `cache=True` into its own site-packages
# folder; two processes compiling it at once (pytest-xdist workers) can leave a corrupt
# cache there that segfaults every later run.  Each test process gets its own cache folder,
# filled once before any test runs (the Beam/Grain worker processes it starts then only read).
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(
    prefix=f"numba_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_"))


@pytest.fixture(scope="session", autouse=True)
def _numba_cache_filled():
  from vmas_jax.beats import music_beat_curve
  music_beat_curve(np.random.default_rng(0).standard_normal(32000).astype(np.float32), 32000, 50)


@pytest.fixture
def torch_one_thread():
  """Run the PyTorch reference on one thread: the reference models are small, and torch's
  thread pool spinning on 2 shared cores costs seconds per call, one thread milliseconds."""
  torch = pytest.importorskip("torch")
  n = torch.get_num_threads()
  torch.set_num_threads(1)
  yield
  torch.set_num_threads(n)
