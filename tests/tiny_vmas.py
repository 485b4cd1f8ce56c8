"""A tiny VMAS on stored features, a batch of 2 clips of 0.5 s, and its initial params."""

import flax.linen as nn
import jax

from vmas_jax.build import build_model
from vmas_jax.config_utils import load_config
from vmas_jax.train import memory_data


def tiny_vmas(*overrides: str):
  """(model, batch, params) of the tiny config with 64 codes and `--config.X=V` overrides."""
  config = load_config("tiny", [
      "--config.data.clip_seconds=0.5", "--config.video.use_features=True",
      "--config.data.frames_format=features", "--config.codec.codebook_size=64",
      "--config.decoder.vocab_size=64", "--config.loss.chunked_logits=False", *overrides])
  model = build_model(config)
  batch = memory_data.make_example_batch(config, 2, seed=0,
                                         feature_dim=model.video_encoder.feature_dim)
  params = nn.unbox(jax.jit(lambda: model.init({"params": jax.random.key(0)}, batch))())["params"]
  return model, batch, params
