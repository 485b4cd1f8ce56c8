"""Run with 8 fake CPU devices: `python tests/sharded_load_worker.py MUSICGEN_DECODER_DIR`.

Loads a MusicGen decoder into the abstract (never allocated) param tree of an FSDP-sharded
MusicDecoder and checks every parameter's sharding and values against the eager import.
"""

import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vmas_jax import convert, pretrained
from vmas_jax.config_defaults import tiny_config
from vmas_jax.models.music_decoder import DecoderConfig, MusicDecoder
from vmas_jax.sharding import DEFAULT_RULES, make_mesh


def main(path):
  assert jax.device_count() == 8
  mesh = make_mesh((1, 8, 1))  # FSDP over 8
  dec_cfg = tiny_config().decoder
  dec_cfg.update(dict(num_layers=2, d_model=32, num_heads=4, ffn_dim=48, hf_path=path))
  module = MusicDecoder(DecoderConfig.from_config(dec_cfg))
  boxed = jax.eval_shape(module.init, jax.random.key(0), jnp.zeros((1, 4, 2), jnp.int32),
                         jnp.zeros((1, 1, 32)))["params"]
  shardings = nn.logical_to_mesh_sharding(nn.get_partition_spec(boxed), mesh, DEFAULT_RULES)
  params, _ = pretrained.load_decoder(nn.unbox(boxed), shardings, path, dec_cfg)
  _, ref = convert.from_hf(path)
  checked = 0
  for (p, x), s, r in zip(jax.tree_util.tree_leaves_with_path(params), jax.tree.leaves(shardings),
                          jax.tree.leaves(ref["params"])):
    assert x.sharding == s, (jax.tree_util.keystr(p), x.sharding, s)
    np.testing.assert_array_equal(np.asarray(x), r, err_msg=jax.tree_util.keystr(p))
    if any(s.spec):  # split: each device holds 1/8 of it
      assert x.addressable_shards[0].data.size * 8 == x.size, jax.tree_util.keystr(p)
      checked += 1
  assert checked >= 10, checked  # embeddings, heads and the per-layer kernels are split
  print("ok", checked)


if __name__ == "__main__":
  main(sys.argv[1])
