"""`vmas codec ...`: train, export, listen to and make data for EnCodec codecs.

  vmas codec train --config codec_bundled --workdir W [--audio DIR_OR_CSV]
                   [--config.FIELD=VALUE ...]
  vmas codec export --workdir W --out DIR            # HF EncodecModel directory
  vmas codec roundtrip IN OUT [--codec DIR_OR_HUB_ID] # encode + decode -> WAV, 32 kHz
  vmas codec make-corpus --out DIR [--songs N]       # MIDI songs rendered by FluidSynth
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

DEFAULT_CONFIG = "codec_bundled"


def add_arguments(parser):
  sub = parser.add_subparsers(dest="codec_command", metavar="COMMAND")
  p = sub.add_parser("train", help="train a codec (resumes when WORKDIR has a checkpoint)")
  p.add_argument("--config", default=DEFAULT_CONFIG)
  p.add_argument("--workdir", required=True)
  p.add_argument("--audio", default=None,
                 help="folder of audio files (recursive) or CSV with a `path` column; "
                 "overrides config.data.audio")
  p = sub.add_parser("export", help="write a trained codec as a HF EncodecModel directory")
  p.add_argument("--workdir", required=True)
  p.add_argument("--out", required=True)
  p.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
  p = sub.add_parser("roundtrip", help="encode + decode an audio file, write a 32 kHz WAV")
  p.add_argument("input")
  p.add_argument("output")
  p.add_argument("--codec", default=None,
                 help="HF EnCodec directory or hub id (default: the bundled codec)")
  p = sub.add_parser("make-corpus", help="render random MIDI songs with FluidSynth")
  p.add_argument("--out", required=True)
  p.add_argument("--songs", type=int, default=200)
  p.add_argument("--seconds", type=float, default=24.0)
  p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
  command = getattr(args, "codec_command", None)
  if command is None:
    print("vmas codec: name a command: train, export, roundtrip, make-corpus", file=sys.stderr)
    return 2
  return {"train": _train, "export": _export, "roundtrip": _roundtrip,
          "make-corpus": _make_corpus}[command](args)


def _train(args) -> int:
  from vmas_jax.config_utils import load_config
  from vmas_jax.train.codec_loop import check_init, train_codec
  config = load_config(args.config, getattr(args, "config_overrides", []))
  if args.audio is not None:
    config.data.audio = args.audio
  try:
    check_init(config)
  except ValueError as e:
    print(f"vmas codec train: {e}", file=sys.stderr)
    return 2
  result = train_codec(config, args.workdir)
  print(json.dumps({k: result[k] for k in ("step", "stopped_early", "skipped_steps")}))
  print(json.dumps(result["last_metrics"], indent=1))
  return 0


def export_workdir(workdir, out_dir, step: int | None = None) -> str:
  """A codec training run's checkpoint -> HF directory `out_dir`, written to a temporary
  directory first and moved into place (readers never see a half-written codec)."""
  import ml_collections

  from vmas_jax.convert import to_hf
  from vmas_jax.models.codec import EncodecModel
  from vmas_jax.train import load_checkpoint
  from vmas_jax.train.codec_config import encodec_config
  from vmas_jax.train.codec_step import codec_variables
  config_path = Path(workdir) / "config.json"
  if not config_path.is_file():
    raise FileNotFoundError(f"{config_path}: missing; not a codec training directory")
  config = ml_collections.ConfigDict(json.loads(config_path.read_text()))
  if "vq" not in config:
    raise ValueError(f"{config_path}: not a codec training config (no `vq` section)")
  state = load_checkpoint(workdir, step)
  module = EncodecModel(encodec_config(config))
  out = Path(out_dir)
  out.parent.mkdir(parents=True, exist_ok=True)
  tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
  to_hf(module, codec_variables(state), tmp)
  (tmp / "training.json").write_text(json.dumps(
      {"step": int(state["step"]), "config": json.loads(config_path.read_text())}, indent=1))
  tmp.chmod(0o755)  # mkdtemp makes it private
  for f in tmp.iterdir():
    f.chmod(0o644)
  old = out.with_name(f".{out.name}.old")
  if out.exists():
    os.replace(out, old)
  os.replace(tmp, out)
  shutil.rmtree(old, ignore_errors=True)
  return str(out)


def _export(args) -> int:
  try:
    out = export_workdir(args.workdir, args.out, args.step)
  except (FileNotFoundError, ValueError) as e:
    print(f"vmas codec export: {e}", file=sys.stderr)
    return 1
  print(f"wrote {out}")
  return 0


def _roundtrip(args) -> int:
  import jax.numpy as jnp
  import ml_collections
  import numpy as np

  from vmas_jax.data.audio_io import load_audio, write_wav
  from vmas_jax.data.errors import MediaError
  from vmas_jax.build import make_codec
  from vmas_jax.models.codec import BUNDLED_CODEC, jitted_codec
  module, variables = make_codec(ml_collections.ConfigDict(
      dict(hf_path=args.codec or str(BUNDLED_CODEC))))
  sr = module.config.sample_rate
  try:
    wav = load_audio(args.input, sr)
  except MediaError as e:
    print(f"vmas codec roundtrip: {e}", file=sys.stderr)
    return 1
  encode, decode = jitted_codec(module.config, module.dtype)
  codes = encode(variables, jnp.asarray(wav[None]))
  out = np.asarray(decode(variables, codes))[0, :len(wav)]
  write_wav(args.output, out, sr)
  print(f"{args.input}: {len(wav) / sr:.2f} s -> codes {tuple(codes.shape[1:])} -> {args.output}")
  return 0


def _make_corpus(args) -> int:
  from vmas_jax.data.midi_corpus import make_midi_corpus
  paths = make_midi_corpus(args.out, args.songs, seconds=args.seconds, seed=args.seed)
  print(f"{len(paths)} songs in {args.out}")
  return 0
