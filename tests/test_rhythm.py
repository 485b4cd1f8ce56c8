"""Rhythm descriptors (`models.rhythm`) and the contrastive embeddings that read them."""

import jax
import jax.numpy as jnp
import numpy as np

from vmas_jax.models import rhythm
from vmas_jax.models.vmas import VMAS

from tiny_vmas import tiny_vmas

RATE = 50.0
HZ = rhythm.frequencies(0.5, 5.0, 37)


def _pulses(bpm: float, first: float, seconds: float = 4.0, width: int = 2) -> np.ndarray:
  """An accent curve [F] at 50 Hz: 1 on `width` frames at each beat, 0 elsewhere."""
  curve = np.zeros(int(seconds * RATE), np.float32)
  for t in np.arange(first, seconds, 60.0 / bpm):
    curve[int(round(t * RATE)):int(round(t * RATE)) + width] = 1.0
  return curve


def _magnitude(desc: np.ndarray) -> np.ndarray:
  j = len(HZ)
  return np.hypot(desc[..., :j], desc[..., j:])


def test_rhythm_descriptor_names_tempo_and_phase_and_ignores_scale():
  curves = np.stack([_pulses(75, 0.3), _pulses(135, 0.3), _pulses(75, 0.7)])
  desc = np.asarray(rhythm.rhythm_descriptor(jnp.asarray(curves), RATE, HZ))
  assert desc.shape == (3, 2 * len(HZ))
  # the strongest frequency is each curve's tempo (or, for impulses, a harmonic of it)
  for d, bpm in zip(desc, (75, 135, 75)):
    peak = HZ[np.argmax(_magnitude(d))]
    assert min(abs(peak / (bpm / 60) - n) for n in (1, 2, 3)) < 0.1, (bpm, peak)
  # same tempo, other phase: same magnitudes, different coefficients
  np.testing.assert_allclose(_magnitude(desc[0]), _magnitude(desc[2]), atol=0.08)
  assert np.abs(desc[0] - desc[2]).max() > 0.3
  # scale and offset of the curve do not matter; a flat curve gives zeros
  scaled = np.asarray(rhythm.rhythm_descriptor(jnp.asarray(curves * 7.0 + 2.0), RATE, HZ))
  np.testing.assert_allclose(scaled, desc, atol=1e-4)
  flat = np.asarray(rhythm.rhythm_descriptor(jnp.ones((1, 200)), RATE, HZ))
  np.testing.assert_array_equal(flat, 0.0)


def _model(rhythm_on: bool):
  return tiny_vmas(f"--config.model.contrastive_rhythm={rhythm_on}")


def test_contrastive_rhythm_starts_neutral_then_reads_both_accent_curves():
  (off, batch, p_off), (on, _, p_on) = _model(False), _model(True)
  apply = lambda m: jax.jit(lambda p, bt: m.apply({"params": p}, bt))
  # zero-initialised: the embeddings are the plain model's until training moves them
  out_off, out_on = apply(off)(p_off, batch), apply(on)(p_on, batch)
  for name in ("music_embed", "video_embed"):
    np.testing.assert_allclose(getattr(out_on, name), getattr(out_off, name), atol=1e-6)

  key = iter(jax.random.split(jax.random.key(1), 4))
  for head in ("video_rhythm", "music_rhythm"):
    p_on[head]["kernel"] = jax.random.normal(next(key), p_on[head]["kernel"].shape)
  run = apply(on)
  out = run(p_on, batch)
  # the video side reads the video beat curve
  moved = dict(batch, video_beat=np.roll(batch["video_beat"], 5, axis=1))
  assert np.abs(run(p_on, moved).video_embed - out.video_embed).max() > 1e-3
  # the music side reads the beat head: another head, another embedding
  other = dict(p_on, beat_head=jax.tree.map(lambda x: x + 0.5 * jax.random.normal(
      next(key), x.shape), p_on["beat_head"]))
  assert np.abs(run(other, batch).music_embed - out.music_embed).max() > 1e-3
  # ... but the contrastive term does not train the beat head through it
  weights = jnp.arange(1.0, 1.0 + out.music_embed.shape[-1])
  grad = jax.jit(jax.grad(lambda p: jnp.sum(on.apply({"params": p}, batch).music_embed
                                            * weights)))(p_on)
  assert all(np.all(np.asarray(g) == 0) for g in jax.tree.leaves(grad["beat_head"]))
  assert np.abs(np.asarray(grad["music_rhythm"]["kernel"])).max() > 0
  # retrieval's music-alone embedding has the rhythm term too
  embed = jax.jit(lambda p: on.apply({"params": p}, batch["codes"], method=VMAS.embed_music))
  alone = embed(p_on)
  no_rhythm = embed(dict(p_on, music_rhythm=jax.tree.map(jnp.zeros_like, p_on["music_rhythm"])))
  assert np.abs(np.asarray(alone - no_rhythm)).max() > 1e-3
