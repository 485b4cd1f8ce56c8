"""`python tests/train_worker.py WORKDIR [pipeline] [FIELD=VALUE ...]`: train the stand-in model.

`pipeline`: on the tiny config's data (the Grain pipeline over the synthetic dataset, built on
first use) instead of in-memory batches.  `trace_batches=True` writes WORKDIR/batch_trace_p<i>.txt
("step digest" per batch), `step_sleep_s=S` pauses before each step (`TracedIterator`).

Run as a subprocess by the resume / SIGTERM / multi-process tests (fresh JAX each time).
Prints `RESULT {json}` on a clean exit.
"""

import json
import logging
import sys

sys.path.insert(0, "tests")
from standin_model import StandIn  # noqa: E402
from train_support import TracedIterator, standin_config, worker_options  # noqa: E402

from vmas_jax.config_utils import apply_overrides  # noqa: E402
from vmas_jax.train import train  # noqa: E402
from vmas_jax.train.harness import maybe_initialize_distributed  # noqa: E402
from vmas_jax.train.loop import make_data_iterator  # noqa: E402

if __name__ == "__main__":
  logging.basicConfig(level=logging.WARNING)
  options, args = worker_options(sys.argv[2:])
  if args[:1] == ["pipeline"]:
    from vmas_jax.config_utils import load_config
    config = load_config("tiny")
    config.update(dict(tensorboard=False, log_every=4))
    args = args[1:]
  else:
    config = standin_config()
  apply_overrides(config, args)
  maybe_initialize_distributed()  # before the iterator takes this process's share
  import jax
  trace = (f"{sys.argv[1]}/batch_trace_p{jax.process_index()}.txt"
           if options["trace_batches"] else None)
  data = TracedIterator(make_data_iterator(config), trace, options["step_sleep_s"])
  result = train(config, sys.argv[1], model=StandIn(), data_iterator=data)
  print("RESULT " + json.dumps({k: v for k, v in result.items() if k != "last_metrics"}),
        flush=True)
