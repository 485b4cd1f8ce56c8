"""`vmas convert --from DIR --out OUT`: a Hugging Face model directory (any model type that
`vmas_jax.convert.from_hf` supports) -> an Orbax checkpoint plus `model.json` in OUT.

Load the result with `vmas_jax.convert.load_converted(OUT) -> (module, variables)`.

`vmas convert --from-run RUN --out OUT [--step N]`: a training run's music decoder (LoRA merged)
-> a Hugging Face `MusicgenForCausalLM` directory.
"""

from __future__ import annotations

import sys

import jax
import numpy as np


def add_arguments(parser):
  src = parser.add_mutually_exclusive_group(required=True)
  src.add_argument("--from", dest="src",
                   help="HF model directory (config.json + weights) or hub id when online")
  src.add_argument("--from-run", dest="run_dir",
                   help="a training run: export its decoder (LoRA merged) in the HF format")
  parser.add_argument("--step", type=int, default=None, help="with --from-run: checkpoint step")
  parser.add_argument("--out", required=True, help="output directory (its params/ must not exist)")
  parser.add_argument("--trust-pickle", action="store_true",
                      help="fully unpickle .bin/.pt weights that hold more than tensors (this can "
                      "run code stored in the file: only for checkpoints you trust)")


def run(args) -> int:
  if args.run_dir:
    from vmas_jax.train.export import export_decoder
    try:
      out = export_decoder(args.run_dir, args.out, args.step)
    except (OSError, ValueError) as e:
      print(f"vmas convert: {e}", file=sys.stderr)
      return 1
    print(f"exported the music decoder of {args.run_dir} -> {out} (MusicgenForCausalLM)")
    return 0
  from vmas_jax.convert import from_hf, save_converted
  from vmas_jax.convert.hf_io import load_hf_config, resolve_hf_dir
  try:
    directory = resolve_hf_dir(args.src)
    hf_config = load_hf_config(directory)
    module, variables = from_hf(directory, trust_remote_pickle=args.trust_pickle)
    out = save_converted(args.out, variables, hf_config)
  except (OSError, ValueError) as e:
    print(f"vmas convert: {e}", file=sys.stderr)
    return 1
  leaves = jax.tree.leaves(variables)
  count = sum(int(np.prod(np.shape(x))) for x in leaves)
  print(f"converted {hf_config.get('model_type')} ({type(module).__name__}, {count:,} parameters "
        f"in {len(leaves)} arrays) from {directory} -> {out}")
  return 0
