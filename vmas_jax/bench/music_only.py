"""`vmas bench music-only`: trained on music alone, does the music follow a video's flashes?

  vmas bench music-only --workdir /tmp/vmas_music_only [--config music_only]

1. Writes `data.synthetic_examples` synthetic soundtracks as WAV files (no pictures) and
   prepares them with `data.mode="music_only"` (WORKDIR/data); writes `--heldout` synthetic
   flash videos with held-out tempos and shapes (WORKDIR/videos/heldout, as `vmas bench
   alignment`).
2. Trains the config (WORKDIR/run; a finished run is reused).  No picture is ever read.
3. Generates music for every held-out video from the video's beat curve (`video`), from an
   all-zero curve (`flat`) and from another video's curve (`shuffled`), all through the null
   memory, and scores the onsets of each against the video's true flash times: beat F1
   (+-70 ms), Beat Hit and Beat Alignment scores.
Onsets are measured two ways (the bundled codec is still weak, so the first is the headline):
- codes: peaks of the codec-latent flux |z_f - z_{f-1}|, z_f = the sum of frame f's codebook
  vectors (the quantized latent the codec's decoder turns into audio), so an event is a jump
  in what the tokens encode, read without the decoder;
- audio: peaks of the librosa onset strength of the codes decoded by the codec.
The true soundtracks through the codec give each measure's ceiling.  Writes
WORKDIR/music_only.{json,md}.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from vmas_jax.bench.alignment import prepare_data, train_and_load

DEFAULT_CONFIG = "music_only"
CONDITIONS = ("video", "flat", "shuffled")
METRICS = (("beat_f1", "beat F1"), ("beat_hit", "BHS"), ("beat_alignment", "BAS"),
           ("onsets_per_s", "onsets/s"))


def add_arguments(parser) -> None:
  parser.add_argument("--config", default=DEFAULT_CONFIG)
  parser.add_argument("--workdir", default="/tmp/vmas_music_only")
  parser.add_argument("--heldout", type=int, default=32, help="held-out flash videos")
  parser.add_argument("--seed", type=int, default=0, help="sampling seed")


def latent_onsets(codebooks: np.ndarray, codes: np.ndarray, frame_rate: float) -> list:
  """Onset times (s) of each row of codes [N, K, F] read in the codec's latent space:
  peaks (`beats.beat_times`) of the peak-normalised flux |z_f - z_{f-1}| of the latents
  z [N, F, D] = sum over k of codebooks[k, codes[:, k]] (codebooks [K, V, D])."""
  from vmas_jax import beats
  z = sum(codebooks[k][codes[:, k]] for k in range(codes.shape[1]))  # [N, F, D]
  flux = np.linalg.norm(np.diff(z, axis=1), axis=-1)  # [N, F - 1]: change into frame f
  flux = np.concatenate([np.zeros((len(z), 1)), flux], axis=1)
  return [beats.beat_times(f / max(float(f.max()), 1e-8), frame_rate) for f in flux]


def _scores(onsets: list, labels, seconds: float) -> dict:
  from vmas_jax.eval.beat_metrics import beat_scores
  per = [beat_scores(o, v["beats"]) for o, v in zip(onsets, labels)]
  return dict(beat_f1=float(np.mean([p["f_measure"] for p in per])),
              beat_hit=float(np.mean([p["bhs"] for p in per])),
              beat_alignment=float(np.mean([p["bas"] for p in per])),
              onsets_per_s=float(np.mean([len(o) for o in onsets]) / seconds))


def measure(codes: np.ndarray, labels, config, codec, codec_vars, decode) -> dict:
  """{"codes": scores, "audio": scores} of generated (or encoded) codes [N, K, F]."""
  from vmas_jax.eval.alignment_metrics import onset_times
  sr, fr = int(config.codec.sample_rate), int(config.codec.frame_rate)
  seconds = codes.shape[-1] / fr
  books = np.asarray(codec_vars["params"]["codebooks"], np.float32)[:codes.shape[1]]
  wavs = np.asarray(decode(codec_vars, codes))[:, :int(round(seconds * sr))]
  return {"codes": _scores(latent_onsets(books, np.asarray(codes), fr), labels, seconds),
          "audio": _scores([onset_times(w, sr) for w in wavs], labels, seconds)}


def generate_conditions(model, params, config, inputs, seed: int) -> dict:
  """{condition: codes [N, K, F]}: music through the null memory for each beat curve."""
  import jax
  from vmas_jax.eval.alignment_eval import derangement
  from vmas_jax.sample import Sampler
  curve = inputs["video_beat"]
  n, frames = curve.shape
  curves = {"video": curve, "flat": np.zeros_like(curve),
            "shuffled": curve[derangement(n, seed)]}
  encode = jax.jit(lambda p, v, t, m, c: model.apply({"params": p}, v, t, m, c,
                                                     method="encode_video"))
  sampler = Sampler(model.decoder_config, params["decoder"])
  sc = config.sampling
  out = {}
  for i, (name, c) in enumerate(curves.items()):
    cond = encode(params, inputs["video"], inputs["times"], inputs["mask"], c)
    out[name] = np.asarray(sampler.sample(
        cond["memory"], cond["memory_mask"], frames,
        jax.random.key(seed * 100 + i), top_k=int(sc.top_k), top_p=float(sc.top_p),
        temperature=float(sc.temperature), guidance_scale=float(sc.guidance_scale),
        input_offsets=cond["offsets"]))
  return out


def markdown_table(results: dict) -> str:
  lines = ["| onsets from | music from | " + " | ".join(t for _, t in METRICS) + " |",
           "|" + "---|" * (len(METRICS) + 2)]
  for domain in ("codes", "audio"):
    for cond, r in results.items():
      row = " | ".join(f"{r[domain][k]:.3f}" for k, _ in METRICS)
      lines.append(f"| {domain} | {cond} | {row} |")
  return "\n".join(lines) + "\n"


def run(args) -> int:
  from vmas_jax.build import make_codec
  from vmas_jax.config_utils import load_config
  from vmas_jax.eval import alignment_eval
  from vmas_jax.models.codec import jitted_codec

  config = load_config(args.config, getattr(args, "config_overrides", []))
  if config.data.mode != "music_only":
    raise ValueError(f"{args.config}: data.mode is {config.data.mode!r}; this benchmark "
                     "trains on music alone (data.mode='music_only')")
  work = Path(args.workdir)
  work.mkdir(parents=True, exist_ok=True)
  times = {}
  t0 = time.perf_counter()
  data_dir, labels = prepare_data(config, work, args.heldout, picture=False)
  config.data.dir = str(data_dir)
  times["prepare_s"] = time.perf_counter() - t0
  model, params = train_and_load(config, work / "run", times)
  t = time.perf_counter()
  inputs = alignment_eval.heldout_inputs(labels, config)
  generated = generate_conditions(model, params, config, inputs, args.seed)
  codec, codec_vars = make_codec(config.codec)
  encode, decode = jitted_codec(codec.config, codec.dtype)
  results = {c: measure(codes, labels, config, codec, codec_vars, decode)
             for c, codes in generated.items()}
  wav = alignment_eval.soundtracks(labels, config)
  true_codes = np.asarray(encode(codec_vars, wav))[:, :, :inputs["video_beat"].shape[1]]
  results["true soundtrack (ceiling)"] = measure(true_codes, labels, config, codec,
                                                 codec_vars, decode)
  times["eval_s"] = time.perf_counter() - t
  table = markdown_table(results)
  (work / "music_only.md").write_text(table)
  (work / "music_only.json").write_text(json.dumps(dict(
      config=args.config, heldout=[{k: v[k] for k in ("bpm", "shape")} for v in labels],
      results=results, times=times), indent=1))
  print(table)
  print(json.dumps(times))
  return 0
