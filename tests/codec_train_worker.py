"""`python tests/codec_train_worker.py WORKDIR [FIELD=VALUE ...]`: train the codec_tiny config
(`step_sleep_s=S`: pause before each step, so the run can be killed mid-way).

Run as a subprocess by the codec resume test (fresh JAX each time).  Prints `RESULT {json}`
on a clean exit.
"""

import json
import logging
import sys

sys.path.insert(0, "tests")
from train_support import TracedIterator, worker_options  # noqa: E402

from vmas_jax.config_utils import load_config  # noqa: E402
from vmas_jax.data.audio_segments import make_segment_iterator  # noqa: E402
from vmas_jax.train.codec_loop import train_codec  # noqa: E402

if __name__ == "__main__":
  logging.basicConfig(level=logging.WARNING)
  options, overrides = worker_options(sys.argv[2:])
  config = load_config("codec_tiny", overrides)
  data = TracedIterator(make_segment_iterator(config), sleep_s=options["step_sleep_s"])
  result = train_codec(config, sys.argv[1], data_iterator=data)
  print("RESULT " + json.dumps({k: v for k, v in result.items() if k != "last_metrics"}),
        flush=True)
