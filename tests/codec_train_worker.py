"""`python tests/codec_train_worker.py WORKDIR [FIELD=VALUE ...]`: train configs/codec_tiny.py.

Run as a subprocess by the codec resume test (fresh JAX each time).  Prints `RESULT {json}`
on a clean exit.
"""

import json
import logging
import sys

from vmas_jax.config_utils import load_config
from vmas_jax.train.codec_loop import train_codec

if __name__ == "__main__":
  logging.basicConfig(level=logging.WARNING)
  config = load_config("configs/codec_tiny.py", sys.argv[2:])
  result = train_codec(config, sys.argv[1])
  print("RESULT " + json.dumps({k: v for k, v in result.items() if k != "last_metrics"}),
        flush=True)
