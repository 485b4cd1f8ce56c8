"""`python tests/train_worker.py WORKDIR [pipeline] [FIELD=VALUE ...]`: train the stand-in model.

`pipeline`: on configs/tiny.py's data (the Grain pipeline over the synthetic dataset, built on
first use) instead of in-memory batches.

Run as a subprocess by the resume / SIGTERM / multi-process tests (fresh JAX each time).
Prints `RESULT {json}` on a clean exit.
"""

import json
import logging
import sys

sys.path.insert(0, "tests")
from standin_model import StandIn  # noqa: E402
from train_support import standin_config  # noqa: E402

from vmas_jax.config_utils import apply_overrides  # noqa: E402
from vmas_jax.train import train  # noqa: E402

if __name__ == "__main__":
  logging.basicConfig(level=logging.WARNING)
  args = sys.argv[2:]
  if args[:1] == ["pipeline"]:
    from vmas_jax.config_utils import load_config
    config = load_config("configs/tiny.py")
    config.update(dict(tensorboard=False, log_every=4))
    args = args[1:]
  else:
    config = standin_config()
  apply_overrides(config, args)
  result = train(config, sys.argv[1], model=StandIn())
  print("RESULT " + json.dumps({k: v for k, v in result.items() if k != "last_metrics"}),
        flush=True)
