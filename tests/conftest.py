import pytest


@pytest.fixture
def torch_one_thread():
  """Run the PyTorch reference on one thread: the reference models are small, and torch's
  thread pool spinning on 2 shared cores costs seconds per call, one thread milliseconds."""
  torch = pytest.importorskip("torch")
  n = torch.get_num_threads()
  torch.set_num_threads(1)
  yield
  torch.set_num_threads(n)
