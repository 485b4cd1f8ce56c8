"""`vmas bench decode`: our jitted sampler vs HF PyTorch `MusicgenForCausalLM.generate`.

Both run on identical random weights (HF init, converted in memory) with the same settings
(top-k sampling, temperature 1, classifier-free guidance with cond + uncond rows in one
batch, cross-attention memory of `--memory-length` tokens).  Prints generated frames per
second (batch * frames / wall time) for both and their ratio, then the EnCodec decode of
the generated codes to audio (ours jitted vs HF `EncodecModel.decode`, same random weights)
and the total time from nothing to audio.

Decoding one step reads every decoder matrix once (a [rows, D] x [D, N] product each), so
the step is bound by memory bandwidth at the larger sizes.  The bench prints the bytes a step
reads, the rate each side achieves, and the machine's streaming read rate over the same
arrays (one row times each matrix, the fastest way XLA reads them here): about the fastest
any sampler of these weights can step on this machine.

  vmas bench decode --size tiny --frames 250 --batch 2 --guidance 3
"""

from __future__ import annotations


import numpy as np

from vmas_jax.bench.timing import time_calls, time_interleaved

from vmas_jax.config_defaults import DECODER_SIZES


def add_arguments(parser):
  parser.add_argument("--size", default="tiny", choices=sorted(DECODER_SIZES))
  parser.add_argument("--frames", type=int, default=100, help="codec frames to generate")
  parser.add_argument("--batch", type=int, default=1)
  parser.add_argument("--guidance", type=float, default=3.0)
  parser.add_argument("--top-k", type=int, default=250)
  parser.add_argument("--memory-length", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=2, help="timed runs per side (best kept)")
  parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                      help="our weights/cache/compute dtype (auto: bfloat16 on GPU/TPU, "
                           "float32 on CPU, which has no fast bf16 matmul); HF runs fp32")
  parser.add_argument("--codec", default="encodec_32khz", choices=["encodec_32khz", "tiny", "none"],
                      help="codec whose decode of the generated codes is timed (none: skip)")
  parser.add_argument("--torch-device", default="auto", help="cpu | cuda | auto")
  parser.add_argument("--torch-threads", type=int, default=0,
                      help="torch CPU threads (0: torch default); on a busy machine 1 is "
                           "faster, as oversubscribed OpenMP threads stall")
  parser.add_argument("--skip-hf", action="store_true", help="time only our sampler")
  parser.add_argument("--command-buffers", action="store_true",
                      help="GPU: also time our sampler with its decode loop captured as a "
                           "CUDA graph (vmas_jax.sample.compiler_options), same tokens checked")


def run(args) -> int:
  import jax
  import torch
  from transformers import MusicgenDecoderConfig, MusicgenForCausalLM

  from vmas_jax.convert.hf_generate import empty_cache_kwargs
  from vmas_jax.convert.musicgen import params_from_hf_state_dict
  from vmas_jax.models.music_decoder import DecoderConfig
  from vmas_jax.sample import Sampler

  size = DECODER_SIZES[args.size]
  if args.dtype == "auto":
    args.dtype = "float32" if jax.default_backend() == "cpu" else "bfloat16"
  k, v = 4, 2048
  dev = ("cuda" if torch.cuda.is_available() else "cpu") if args.torch_device == "auto" \
      else args.torch_device
  if args.torch_threads:
    torch.set_num_threads(args.torch_threads)
  torch.manual_seed(0)
  hf_cfg = MusicgenDecoderConfig(
      vocab_size=v, num_hidden_layers=size["num_layers"], hidden_size=size["d_model"],
      num_attention_heads=size["num_heads"], ffn_dim=size["ffn_dim"], num_codebooks=k,
      max_position_embeddings=max(2048, args.frames + k), dropout=0.0, pad_token_id=v,
      bos_token_id=v, decoder_start_token_id=v)
  hf = MusicgenForCausalLM(hf_cfg).eval()
  # unrolled layer layout: what the sampler holds (it would unstack a scanned stack once)
  cfg = DecoderConfig.from_hf_config(hf_cfg.to_dict(), dtype=args.dtype, scan_layers=False)
  variables = params_from_hf_state_dict({n: t.numpy() for n, t in hf.state_dict().items()}, cfg)
  variables = jax.device_put(variables)
  hf = hf.to(dev)

  b, f, g = args.batch, args.frames, args.guidance
  rs = np.random.RandomState(0)
  memory = rs.randn(b, args.memory_length, cfg.d_model).astype(np.float32)
  null = np.asarray(variables["params"]["null_memory"])
  print(f"decode bench: size={args.size} ({size['num_layers']}x{size['d_model']}) batch={b} "
        f"frames={f} guidance={g} top_k={args.top_k} memory={args.memory_length} "
        f"jax={jax.default_backend()} ours_dtype={args.dtype} torch={dev} "
        f"threads={torch.get_num_threads()}")

  def sampler_fn(command_buffers):
    sampler = Sampler(cfg, variables, command_buffers=command_buffers)

    def ours(seed=0):
      out = sampler.sample(memory, None, f, jax.random.key(seed), top_k=args.top_k,
                           guidance_scale=g)
      return np.asarray(jax.block_until_ready(out))
    return ours

  ours = sampler_fn(False)

  ehs = memory if g <= 1 else np.concatenate([memory, np.broadcast_to(null, memory.shape)])
  ehs = torch.tensor(ehs, device=dev)

  def theirs():
    with torch.no_grad():
      out = hf.generate(
          input_ids=torch.full((b * k, 1), v, device=dev),
          attention_mask=torch.ones((b * k, 1), dtype=torch.long, device=dev),
          **empty_cache_kwargs(hf),
          encoder_hidden_states=ehs, do_sample=True, top_k=args.top_k, temperature=1.0,
          max_length=f + k, guidance_scale=g, num_return_sequences=1)
    if dev == "cuda":
      torch.cuda.synchronize()
    return out

  # the two samplers in alternation (the first call of each compiles or warms up)
  sides = {"ours": ours} if args.skip_hf else {"ours": ours, "hf": theirs}
  if args.command_buffers:
    sides["ours_command_buffers"] = sampler_fn(True)
  timing = time_interleaved(sides, args.repeats)
  codes, compile_s, t_ours = timing["ours"].result, timing["ours"].first_s, timing["ours"].best_s
  fps_ours = b * f / t_ours
  print(f"ours: {t_ours:.3f} s -> {fps_ours:.1f} frames/s  (first call incl. compile "
        f"{compile_s:.1f} s)")
  if args.command_buffers:
    cb = timing["ours_command_buffers"]
    same = np.array_equal(cb.result, codes)
    print(f"ours, command buffers ({jax.default_backend()}): {cb.best_s:.3f} s -> "
          f"{b * f / cb.best_s:.1f} frames/s, {t_ours / cb.best_s:.2f}x the default; "
          f"same tokens: {same}")
  codec = None if args.codec == "none" else _Codec(args.codec, dev)
  t_codec = None
  if codec is not None:
    t_codec = time_calls(lambda: codec.ours(codes), args.repeats).best_s  # first call compiles
  if t_codec is not None:
    print(f"ours: codec decode {t_codec:.3f} s; generate + decode {t_ours + t_codec:.3f} s "
          f"for {f / 50:g} s of audio")
  if args.skip_hf:
    return 0
  assert tuple(timing["hf"].result.shape) == (b, k, f), timing["hf"].result.shape
  t_hf = timing["hf"].best_s
  fps_hf = b * f / t_hf
  rounds = [h / o for o, h in zip(timing["ours"].times, timing["hf"].times)]
  print(f"hf:   {t_hf:.3f} s -> {fps_hf:.1f} frames/s")
  print(f"ratio ours/hf: {fps_ours / fps_hf:.2f}x  (each round: "
        f"{', '.join(f'{r:.2f}' for r in rounds)})")
  _print_bandwidth(variables["params"], f + k - 1, t_ours, t_hf, fps_hf, args.repeats)
  if codec is not None:
    t_hf_codec = time_calls(lambda: codec.hf(codes), args.repeats).best_s
    print(f"hf:   codec decode {t_hf_codec:.3f} s; generate + decode {t_hf + t_hf_codec:.3f} s")
    print(f"ratio ours/hf, codec decode: {t_hf_codec / t_codec:.2f}x; generate + decode: "
          f"{(t_hf + t_hf_codec) / (t_ours + t_codec):.2f}x")
  return 0


def step_weights(params) -> list:
  """The arrays one decoding step reads: every matrix of the decoder but the codebook
  embeddings (a row lookup) and the cross-attention key/value projections (applied once, to
  the memory, at prefill)."""
  import jax
  out = []
  for path, x in jax.tree_util.tree_leaves_with_path(params):
    keys = [str(getattr(p, "key", p)) for p in path]
    if x.ndim < 2 or keys[0] == "embed" or (
        "encoder_attn" in keys and ("k_proj" in keys or "v_proj" in keys)):
      continue
    out.append(x)
  return out


def _print_bandwidth(params, steps: int, t_ours: float, t_hf: float, fps_hf: float,
                     repeats: int):
  """Bytes per step, each side's read rate, and the fastest plain read of the same arrays
  (XLA's sum of them, or its one-row product with each): the memory bound of a step."""
  import jax
  import jax.numpy as jnp

  from vmas_jax.sample import compiler_options
  arrays = step_weights(params)
  nbytes = sum(x.size * x.dtype.itemsize for x in arrays)
  reads = {
      "sum": lambda xs: sum(jnp.sum(x) for x in xs),
      "1-row product": lambda xs: sum(
          jnp.sum(jnp.ones((1, x.size // x.shape[-1]), x.dtype) @ x.reshape(-1, x.shape[-1]))
          for x in xs)}
  times = {name: time_calls(lambda f=jax.jit(f, compiler_options=compiler_options()):
                            f(arrays), max(repeats, 5)).best_s for name, f in reads.items()}
  how, t_read = min(times.items(), key=lambda kv: kv[1])
  per_step = lambda t: t / steps
  gbs = lambda t: nbytes / t / 1e9
  print(f"weights read per step: {nbytes / 1e6:.1f} MB; ours {gbs(per_step(t_ours)):.1f} GB/s, "
        f"hf {gbs(per_step(t_hf)):.1f} GB/s ({per_step(t_ours) * 1e3:.2f} vs "
        f"{per_step(t_hf) * 1e3:.2f} ms per step)")
  print(f"streaming read of those weights ({how}): {gbs(t_read):.1f} GB/s "
        f"({t_read * 1e3:.2f} ms): a sampler stepping at that rate would be "
        f"{per_step(t_hf) / t_read:.2f}x hf ({fps_hf * per_step(t_hf) / t_read:.1f} frames/s)")


class _Codec:
  """EnCodec decode of codes [B, K, F] -> audio, ours (jitted) and HF's, on one set of random
  weights (ours exported to a temporary HF directory)."""

  def __init__(self, arch: str, torch_device: str):
    import tempfile

    import jax
    from transformers import EncodecModel

    from vmas_jax.convert import to_hf
    from vmas_jax.build import make_codec
    from vmas_jax.models.codec import jitted_codec
    import ml_collections
    self.module, self.variables = make_codec(ml_collections.ConfigDict(dict(
        hf_path="", arch=arch, dtype="float32", init_seed=0)))
    _, self._decode = jitted_codec(self.module.config, self.module.dtype)
    with tempfile.TemporaryDirectory() as tmp:
      to_hf(self.module, self.variables, tmp)
      self.hf_model = EncodecModel.from_pretrained(tmp).eval().to(torch_device)
    self.device = torch_device
    self.jax = jax

  def _fit(self, codes):
    """Codes into this codec's range (the `tiny` codec has fewer codebooks/entries)."""
    cfg = self.module.config
    return np.asarray(codes)[:, :cfg.num_codebooks] % cfg.codebook_size

  def ours(self, codes):
    out = self._decode(self.variables, self._fit(codes))
    return np.asarray(self.jax.block_until_ready(out))

  def hf(self, codes):
    import torch
    codes = self._fit(codes)
    with torch.no_grad():
      out = self.hf_model.decode(torch.tensor(codes[None], device=self.device), [None])
    return out.audio_values.cpu().numpy()
