"""CLIP vision and Hiera vs. the HF PyTorch reference on the same random weights."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from vmas_jax.convert import from_hf

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _check(module, variables, ref, x_nhwc, atol):
  # The importer's tree must be exactly the tree the module would create itself.
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), x_nhwc[:1]))
  got_shapes = jax.tree.map(lambda a: a.shape, variables)
  want_shapes = jax.tree.map(lambda a: a.shape, nn.unbox(shapes))
  assert got_shapes == want_shapes
  last, pooled = jax.jit(module.apply)(variables, x_nhwc)
  with torch.no_grad():
    out = ref(pixel_values=torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2)))
  np.testing.assert_allclose(np.asarray(last), out.last_hidden_state.numpy(), atol=atol, rtol=atol)
  np.testing.assert_allclose(np.asarray(pooled), out.pooler_output.numpy(), atol=atol, rtol=atol)
  return float(np.abs(np.asarray(last) - out.last_hidden_state.numpy()).max())


def _perturb_norms(model):
  # Random LayerNorm/bias values so that a swapped scale/bias would be caught.
  g = torch.Generator().manual_seed(0)
  with torch.no_grad():
    for name, p in model.named_parameters():
      if "norm" in name or name.endswith("bias") or "embedding" in name:
        p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if name.endswith("weight") and "norm" in name else 0.0))


CLIP_TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 image_size=32, patch_size=8)
CLIP_BASE = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                 num_attention_heads=12, image_size=224, patch_size=16)  # clip-vit-base-patch16


@pytest.mark.parametrize("cfg,batch", [(CLIP_TINY, 2), (CLIP_BASE, 1)], ids=["tiny", "base16"])
def test_clip_vision_parity(tmp_path, cfg, batch):
  torch.manual_seed(0)
  ref = transformers.CLIPVisionModel(transformers.CLIPVisionConfig(**cfg)).eval()
  _perturb_norms(ref)
  ref.save_pretrained(tmp_path)
  module, variables = from_hf(tmp_path)
  x = np.random.RandomState(0).randn(batch, cfg["image_size"], cfg["image_size"], 3).astype(np.float32)
  err = _check(module, variables, ref, x, atol=1e-4)
  print(f"clip {cfg['hidden_size']} max abs err {err:.2e}")


def test_full_clip_dir_takes_vision_tower(tmp_path):
  torch.manual_seed(1)
  cfg = transformers.CLIPConfig(vision_config=CLIP_TINY, projection_dim=16, text_config=dict(
      hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4))
  ref = transformers.CLIPModel(cfg).eval()
  ref.save_pretrained(tmp_path)
  module, variables = from_hf(tmp_path)
  x = np.random.RandomState(1).randn(1, 32, 32, 3).astype(np.float32)
  _check(module, variables, ref.vision_model, x, atol=1e-4)


HIERA_TINY = dict(embed_dim=8, depths=[1, 2, 1, 1], num_heads=[1, 2, 2, 4], image_size=[64, 64],
                  masked_unit_size=[8, 8])
HIERA_BASE = dict()  # HieraConfig defaults = hiera-base-224


@pytest.mark.parametrize("cfg,batch", [(HIERA_TINY, 2), (HIERA_BASE, 1)], ids=["tiny", "base"])
def test_hiera_parity(tmp_path, cfg, batch):
  torch.manual_seed(0)
  ref = transformers.HieraModel(transformers.HieraConfig(**cfg)).eval()
  _perturb_norms(ref)
  ref.save_pretrained(tmp_path)
  module, variables = from_hf(tmp_path)
  h, w = module.image_size
  x = np.random.RandomState(0).randn(batch, h, w, 3).astype(np.float32)
  err = _check(module, variables, ref, x, atol=1e-4)
  print(f"hiera {module.embed_dim} max abs err {err:.2e}")


def test_vmas_convert_round_trip(tmp_path, capsys):
  from vmas_jax.cli import main
  from vmas_jax.convert import load_converted
  torch.manual_seed(2)
  transformers.HieraModel(transformers.HieraConfig(**HIERA_TINY)).save_pretrained(tmp_path / "hf")
  assert main(["convert", "--from", str(tmp_path / "hf"), "--out", str(tmp_path / "out")]) == 0
  assert "converted hiera (Hiera" in capsys.readouterr().out
  module, variables = load_converted(tmp_path / "out")
  ref_module, ref_vars = from_hf(tmp_path / "hf")
  assert module == ref_module
  jax.tree.map(np.testing.assert_array_equal, variables, ref_vars)
