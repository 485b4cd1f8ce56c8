"""Training-data statistics of pre-extracted frame features (`video.standardize_features`).

  mean, std = feature_statistics(iterator, batches=8)        # [P, Df] each, over valid frames
  params = with_feature_statistics(params, mean, std, shardings)

The temporal encoder standardises its input features by them (`feature_shift`,
`feature_scale`); they are measured once, when a run starts, from a fresh iterator (the
training iterator is not advanced), and then travel in the params: checkpoints, exports and
generation use the values the run was trained with.
"""

from __future__ import annotations

import jax
import numpy as np

MIN_STD = 1e-3  # a feature that never varies is left at its own scale, not blown up


def feature_statistics(iterator, batches: int = 8) -> tuple[np.ndarray, np.ndarray]:
  """Mean and standard deviation [P, Df] of batch["features"] [B, T, P, Df] over the valid
  frames (batch["frame_mask"]) of `batches` batches of `iterator`, pooled over every
  process (each reads its own shard)."""
  total = square = count = 0.0
  for _ in range(batches):
    batch = next(iterator)
    feats = np.asarray(batch["features"], np.float64)
    valid = np.asarray(batch["frame_mask"], bool)
    picked = feats[valid]  # [N, P, Df]
    total, square, count = total + picked.sum(0), square + (picked ** 2).sum(0), count + len(picked)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    total, square, count = (np.asarray(multihost_utils.process_allgather(np.asarray(v))).sum(0)
                            for v in (total, square, count))
  if not np.all(count):
    raise ValueError("no valid frames in the batches read for the feature statistics")
  mean = total / count
  std = np.sqrt(np.maximum(square / count - mean ** 2, 0.0))
  return mean.astype(np.float32), np.maximum(std, MIN_STD).astype(np.float32)


def with_feature_statistics(params: dict, mean: np.ndarray, std: np.ndarray,
                            shardings: dict) -> dict:
  """`params` with the video encoder's feature_shift / feature_scale set to mean / std."""
  encoder = dict(params["video_encoder"])
  for name, value in (("feature_shift", mean), ("feature_scale", std)):
    if encoder[name].shape != (value.size,):
      raise ValueError(f"{name}: the model has {encoder[name].shape}, the data gives "
                       f"{value.shape} features")
    encoder[name] = jax.device_put(value.reshape(-1).astype(encoder[name].dtype),
                                   shardings["video_encoder"][name])
  return dict(params, video_encoder=encoder)
