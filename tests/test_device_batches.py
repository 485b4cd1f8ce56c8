"""`DeviceBatches`: the next batch is read and sent while a step runs, and checkpoints hold
the iterator state of the batches the model has seen, not of the one read ahead."""

from vmas_jax.train.harness import DeviceBatches


class _Counting:
  """An iterator over 0, 1, 2, ... with Grain's get_state / set_state."""

  def __init__(self):
    self.position = 0

  def __next__(self):
    self.position += 1
    return self.position - 1

  def get_state(self):
    return {"position": self.position}


def test_prefetch_sends_the_next_batch_early_and_data_state_lags_it():
  sent = []
  it = _Counting()
  batches = DeviceBatches(it, lambda b: sent.append(b) or f"device{b}")
  assert batches.data_state() == {"position": 0}
  assert batches.next() == "device0"
  batches.prefetch()                       # while step 1 runs
  assert sent == [0, 1]                    # batch 1 already sent
  assert it.get_state() == {"position": 2}
  assert batches.data_state() == {"position": 1}  # a checkpoint after step 1 resumes at 1
  batches.prefetch()                       # idempotent: nothing more is read
  assert sent == [0, 1]
  assert batches.next() == "device1"
  assert batches.data_state() == {"position": 2}
  assert batches.next() == "device2"       # no prefetch: read on demand
  assert sent == [0, 1, 2] and batches.data_state() == {"position": 3}
