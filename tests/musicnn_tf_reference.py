"""`python tests/musicnn_tf_reference.py OUT.npz MODEL[,MODEL] WAV...`: the musicnn package's
own TensorFlow taggers on each WAV, saved as arrays for tests/test_musicnn.py to compare against.

Runs in an interpreter with tensorflow, tf_keras and musicnn (`.ci/run` makes one); the
package's graph code uses TF1 layers, which TF 2.16+ only provides through tf_keras, hence
TF_USE_LEGACY_KERAS=1 before TensorFlow is imported.
"""

import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from musicnn import configuration  # noqa: E402
from musicnn.extractor import extractor  # noqa: E402

# All patches of a clip in one session run: with the default of 1 the package's extractor
# repeats the first patch's "penultimate" features for every later patch.
configuration.BATCH_SIZE = 1 << 20

if __name__ == "__main__":
  out, models, wavs = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
  arrays = {}
  for model in models:
    for i, wav in enumerate(wavs):
      taggram, _, features = extractor(wav, model=model, extract_features=True)
      arrays[f"{model}/{i}/tags"] = taggram
      for key in ("mean_pool", "max_pool", "penultimate"):
        arrays[f"{model}/{i}/{key}"] = features[key]
  np.savez(out, **arrays)
