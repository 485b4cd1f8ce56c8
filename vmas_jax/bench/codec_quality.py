"""`vmas bench codec-quality`: reconstruction quality of a codec on a folder of audio.

  vmas bench codec-quality --audio DIR_OR_CSV [--codec DIR_OR_HUB_ID] [--seconds 10]
  vmas bench codec-quality --synthetic-notes 8 [--codec ...]

Per file (the first --seconds from --start, or all of a shorter file): log-mel L1 and onset
F1 between the original and its round trip (`vmas_jax.eval.codec_quality`); with
--synthetic-notes N, also N held-out synthetic melodies (seeds 1000.., not the training
generator's) and the fraction of their notes whose pyin pitch is within 50 cents.
Default codec: the bundled one.
"""

from __future__ import annotations

import json

import numpy as np


def add_arguments(parser):
  parser.add_argument("--audio", default=None, help="folder of audio files or CSV manifest")
  parser.add_argument("--codec", default=None, help="HF EnCodec dir or hub id (default bundled)")
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--start", type=float, default=30.0,
                      help="excerpt start (s); files shorter than start + seconds start at 0")
  parser.add_argument("--max-files", type=int, default=0, help="0: all")
  parser.add_argument("--synthetic-notes", type=int, default=0, metavar="N")
  parser.add_argument("--json", default=None, help="also write the per-file figures here")


def roundtrip_fn(codec: str | None):
  """`f(wav[T]) -> wav[T]` through the codec (fixed-length calls share one compilation)."""
  import jax.numpy as jnp
  import ml_collections

  from vmas_jax.build import make_codec
  from vmas_jax.models.codec import BUNDLED_CODEC, jitted_codec
  module, variables = make_codec(ml_collections.ConfigDict(dict(hf_path=codec or str(BUNDLED_CODEC))))
  encode, decode = jitted_codec(module.config, module.dtype)

  def roundtrip(wav):
    codes = encode(variables, jnp.asarray(wav[None], jnp.float32))
    return np.asarray(decode(variables, codes))[0, :len(wav)]
  return roundtrip, module.config.sample_rate


def run(args) -> int:
  from vmas_jax.data.audio_io import audio_info, load_audio
  from vmas_jax.data.audio_segments import list_audio
  from vmas_jax.data.errors import MediaError
  from vmas_jax.eval import codec_quality as q
  if not args.audio and not args.synthetic_notes:
    print("vmas bench codec-quality: give --audio DIR_OR_CSV and/or --synthetic-notes N")
    return 2
  roundtrip, sr = roundtrip_fn(args.codec)
  n = int(args.seconds * sr)
  rows = []
  files = list_audio(args.audio) if args.audio else []
  for path in files[:args.max_files or None]:
    try:
      duration = audio_info(path).duration
      start = args.start if duration >= args.start + args.seconds else 0.0
      wav = load_audio(path, sr, start=start, duration=args.seconds)
    except MediaError as e:
      print(f"skipped {e}")
      continue
    wav = np.pad(wav[:n], (0, n - min(n, len(wav))))
    out = roundtrip(wav)
    rows.append(dict(file=path, log_mel_l1=q.log_mel_l1(wav, out, sr),
                     onset_f1=q.onset_f1(wav, out, sr)))
    print(f"{path}: log-mel L1 {rows[-1]['log_mel_l1']:.3f}  onset F1 {rows[-1]['onset_f1']:.3f}")
  notes_rows = []
  for i in range(args.synthetic_notes):
    wav, notes = q.held_out_notes(1000 + i, args.seconds, sr)
    out = roundtrip(np.pad(wav[:n], (0, n - min(n, len(wav)))))
    notes_rows.append(dict(seed=1000 + i, notes=len(notes), log_mel_l1=q.log_mel_l1(wav, out, sr),
                           onset_f1=q.onset_f1(wav, out, sr),
                           pitch_within_50_cents=q.pitch_accuracy(out, sr, notes),
                           pitch_original=q.pitch_accuracy(wav, sr, notes)))
    print(json.dumps(notes_rows[-1]))
  summary = {}
  for name, group in (("audio", rows), ("synthetic_notes", notes_rows)):
    if group:
      summary[name] = {k: float(np.mean([r[k] for r in group])) for k in group[0]
                       if k not in ("file", "seed", "notes")}
      summary[name]["count"] = len(group)
  print(f"codec {args.codec or 'bundled'}: " + json.dumps(summary, indent=1))
  if args.json:
    with open(args.json, "w") as fh:
      json.dump(dict(summary=summary, files=rows, synthetic_notes=notes_rows), fh, indent=1)
  return 0
