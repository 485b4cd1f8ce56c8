"""`vmas train --config FILE --workdir DIR [--config.FIELD=VALUE ...]`.

Resumes from WORKDIR/checkpoints when there is a checkpoint; SIGTERM saves and exits 0.
"""

from __future__ import annotations

import json
import logging


def add_arguments(parser) -> None:
  parser.add_argument("--config", required=True, help="a named config (tiny, small, ...: vmas_jax/configs) or a config file, with :ARG")
  parser.add_argument("--workdir", required=True, help="checkpoints, TensorBoard logs")


def run(args) -> int:
  from vmas_jax.config_utils import load_config
  from vmas_jax.train import train

  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
  for noisy in ("absl", "orbax"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
  config = load_config(args.config, args.config_overrides)
  result = train(config, args.workdir)
  summary = {k: v for k, v in result.items() if k != "last_metrics"}
  summary["metrics"] = result["last_metrics"]
  print(json.dumps(summary, default=str))
  return 0
