"""`vmas bench codec`: jitted EnCodec encode + decode time for N seconds of audio.

  vmas bench codec --arch encodec_32khz --seconds 10 [--batch 1] [--dtype float32] [--hf-path DIR]

Random weights unless --hf-path is given (speed does not depend on the weight values).
Compile time is reported separately; the timed runs follow one warm-up call.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from vmas_jax.bench.timing import time_calls


def add_arguments(parser):
  parser.add_argument("--arch", default="encodec_32khz", choices=["tiny", "encodec_32khz"])
  parser.add_argument("--hf-path", default="", help="HF EnCodec directory instead of random init")
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--batch", type=int, default=1)
  parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
  parser.add_argument("--repeats", type=int, default=3)


def run(args) -> int:
  from vmas_jax.build import make_codec
  from vmas_jax.models.codec import jitted_codec
  from vmas_jax.models.codec_init import probe_signal
  import ml_collections
  module, variables = make_codec(ml_collections.ConfigDict(dict(
      hf_path=args.hf_path, arch=args.arch, dtype=args.dtype, init_seed=0)))
  cfg = module.config
  n = int(args.seconds * cfg.sample_rate)
  wav = np.tile(probe_signal(cfg.sample_rate, seconds=min(args.seconds, 2.0)),
                (args.batch, int(np.ceil(args.seconds / 2.0)) + 1))[:, :n]
  wav = jnp.asarray(wav)
  encode, decode = jitted_codec(cfg, module.dtype)
  enc = time_calls(lambda: encode(variables, wav), args.repeats)
  codes = enc.result
  dec = time_calls(lambda: decode(variables, codes), args.repeats)
  audio = dec.result
  (enc_first, enc_s), (dec_first, dec_s) = (enc.first_s, enc.median_s), (dec.first_s, dec.median_s)
  total = enc_s + dec_s
  audio_s = args.batch * args.seconds
  print(f"codec {args.arch} ({args.dtype}, batch {args.batch}, {args.seconds:g} s of "
        f"{cfg.sample_rate} Hz audio -> codes {tuple(codes.shape)} -> audio {tuple(audio.shape)}) "
        f"on {jax.devices()[0].device_kind}:")
  print(f"  encode {enc_s * 1000:.1f} ms, decode {dec_s * 1000:.1f} ms, encode+decode "
        f"{total * 1000:.1f} ms = {audio_s / total:.1f}x real time "
        f"(median of {args.repeats} after warm-up; first calls incl. compile "
        f"{enc_first:.1f} s + {dec_first:.1f} s)")
  return 0
