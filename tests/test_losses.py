"""Every loss term against a hand-computed small case (numpy, explicit loops)."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vmas_jax import losses
from vmas_jax.models.outputs import VMASOutput


def _log_softmax(row):
  m = max(row)
  return [x - m - math.log(sum(math.exp(y - m) for y in row)) for x in row]


def test_ar_loss_hand_computed():
  rng = np.random.RandomState(0)
  B, K, S, V = 2, 2, 3, 5
  logits = rng.randn(B, K, S, V).astype(np.float32)
  targets = rng.randint(0, V, (B, K, S))
  mask = np.array([[True, True, True], [False, True, True]])  # codebook 1 delayed by one
  ce, acc = [], []
  for k in range(K):
    terms, hits = [], []
    for b in range(B):
      for s in range(S):
        if mask[k, s]:
          terms.append(-_log_softmax(list(logits[b, k, s]))[targets[b, k, s]])
          hits.append(float(np.argmax(logits[b, k, s]) == targets[b, k, s]))
    ce.append(sum(terms) / len(terms))
    acc.append(sum(hits) / len(hits))
  loss, m = losses.ar_loss(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(mask))
  np.testing.assert_allclose(m["ce_k"], ce, rtol=1e-5)
  np.testing.assert_allclose(m["acc_k"], acc, rtol=1e-6)
  np.testing.assert_allclose(loss, (ce[0] + ce[1]) / 2, rtol=1e-5)


def test_ar_loss_ignores_masked_slots():
  logits = jnp.zeros((1, 1, 3, 3)).at[0, 0, 1].set(jnp.array([100.0, -100.0, 0.0]))
  # slot 1 would be a huge loss if it counted; slot 2 holds the special id V (out of range)
  targets = jnp.array([[[0, 1, 3]]])
  loss, m = losses.ar_loss(logits, targets, jnp.array([[True, False, False]]))
  np.testing.assert_allclose(loss, math.log(3), rtol=1e-6)
  grads = jax.grad(lambda x: losses.ar_loss(x, targets, jnp.array([[True, False, False]]))[0])(
      logits)
  assert np.all(np.isfinite(grads)) and np.all(grads[0, 0, 1:] == 0)


def test_contrastive_loss_hand_computed():
  rng = np.random.RandomState(1)
  B, E = 3, 4
  mu = rng.randn(B, E); mu /= np.linalg.norm(mu, axis=1, keepdims=True)
  vi = rng.randn(B, E); vi /= np.linalg.norm(vi, axis=1, keepdims=True)
  t = 0.07
  sim = [[float(mu[i] @ vi[j]) / t for j in range(B)] for i in range(B)]
  m2v = -sum(_log_softmax(sim[i])[i] for i in range(B)) / B
  cols = [[sim[i][j] for i in range(B)] for j in range(B)]
  v2m = -sum(_log_softmax(cols[j])[j] for j in range(B)) / B
  hits = sum(int(np.argmax(sim[i]) == i) for i in range(B)) + sum(
      int(np.argmax(cols[j]) == j) for j in range(B))
  loss, m = losses.contrastive_loss(jnp.asarray(mu, jnp.float32), jnp.asarray(vi, jnp.float32),
                                    jnp.log(jnp.float32(t)))
  np.testing.assert_allclose(loss, (m2v + v2m) / 2, rtol=1e-5)
  np.testing.assert_allclose(m["acc"], hits / (2 * B), rtol=1e-6)
  np.testing.assert_allclose(m["temperature"], t, rtol=1e-6)


def test_beat_bce_hand_computed_and_stable():
  x = np.array([[2.0, -1.0, 0.5, 300.0]], np.float32)
  y = np.array([[1.0, 0.0, 0.3, 1.0]], np.float32)
  mask = np.array([[True, True, True, False]])
  sig = lambda v: 1 / (1 + math.exp(-v))
  ref = [-(yy * math.log(sig(xx)) + (1 - yy) * math.log(1 - sig(xx)))
         for xx, yy in zip(x[0, :3], y[0, :3])]
  got = losses.beat_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask))
  np.testing.assert_allclose(got, sum(ref) / 3, rtol=1e-5)
  # A huge logit with the wrong target stays finite (no log(0)).
  assert np.isfinite(losses.beat_loss(jnp.array([[300.0]]), jnp.array([[0.0]])))
  np.testing.assert_allclose(losses.beat_loss(jnp.array([[300.0]]), jnp.array([[0.0]])), 300.0)


def test_total_is_weighted_sum():
  rng = np.random.RandomState(2)
  B, K, S, V, F, E = 2, 2, 4, 3, 3, 4
  emb = rng.randn(B, E).astype(np.float32)
  emb /= np.linalg.norm(emb, axis=1, keepdims=True)
  out = VMASOutput(logits=jnp.asarray(rng.randn(B, K, S, V), jnp.float32),
                   targets=jnp.asarray(rng.randint(0, V, (B, K, S))),
                   target_mask=jnp.ones((K, S), bool), music_embed=jnp.asarray(emb),
                   video_embed=jnp.asarray(emb[::-1].copy()), log_temperature=jnp.float32(-2.0),
                   beat_logits=jnp.asarray(rng.randn(B, F), jnp.float32))
  batch = dict(music_beat=jnp.asarray(rng.rand(B, F), jnp.float32))
  cfg = ml_collections.ConfigDict(dict(contrastive_weight=0.3, beat_weight=0.2))
  total, m = losses.vmas_loss(out, batch, cfg)
  np.testing.assert_allclose(
      total, m["loss_ar"] + 0.3 * m["loss_contrastive"] + 0.2 * m["loss_beat"], rtol=1e-6)
  assert {"acc_cb0", "acc_cb1", "ce_cb0", "contrastive_acc", "temperature"} <= set(m)
  assert m["contrastive_acc"] == 0.0  # embeddings reversed: every pair is a mismatch


def test_chunked_ar_loss_equals_full_logits_loss_and_grads():
  """`ar_loss_from_hidden` (one codebook's logits at a time, rematerialised) == `ar_loss` of
  the full [B, K, S, V] logits: loss, metrics and gradients w.r.t. hidden and heads."""
  rs = np.random.RandomState(0)
  b, k, s, d, v = 2, 4, 7, 8, 16
  hidden = jnp.asarray(rs.randn(b, s, d).astype(np.float32))
  heads = jnp.asarray(rs.randn(k, d, v).astype(np.float32))
  targets = jnp.asarray(rs.randint(0, v + 1, (b, k, s)))  # v = the special (empty) id
  mask = jnp.asarray(rs.rand(k, s) > 0.3)

  def full(hd, w):
    return losses.ar_loss(jnp.einsum("bsd,kdv->bksv", hd, w), targets, mask)

  def chunked(hd, w):
    return losses.ar_loss_from_hidden(hd, w, targets, mask)

  (l_f, m_f), g_f = jax.value_and_grad(full, argnums=(0, 1), has_aux=True)(hidden, heads)
  (l_c, m_c), g_c = jax.jit(jax.value_and_grad(chunked, argnums=(0, 1), has_aux=True))(
      hidden, heads)
  np.testing.assert_allclose(l_c, l_f, rtol=1e-6)
  np.testing.assert_allclose(m_c["ce_k"], m_f["ce_k"], rtol=1e-6)
  np.testing.assert_array_equal(m_c["acc_k"], m_f["acc_k"])
  assert float(m_f["acc_k"].max()) > 0
  for a, e in zip(g_c, g_f):
    np.testing.assert_allclose(a, e, atol=1e-7, rtol=1e-5)
  assert float(jnp.abs(g_f[1]).max()) > 0
