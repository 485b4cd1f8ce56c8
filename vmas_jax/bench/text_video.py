"""`vmas bench text-video`: can a text prompt steer the music of a video?  Train, generate,
measure.

  vmas bench text-video --config text_video --workdir /tmp/vmas_text_video

1. Writes `data.synthetic_examples` synthetic videos (`data.synthetic`: the palette colour
   sets the note, the flashes the beat) with a manifest CSV whose `caption` column names each
   clip's colour, and prepares it (WORKDIR/data); writes held-out videos (WORKDIR/videos/
   heldout) and keeps the first `--clips` blue and red ones.
2. Trains the config (WORKDIR/run; a finished run is reused).
3. For every held-out blue video, generates music with the prompt "red", with "blue" and
   with none ("": no text, the video alone; same seed; guidance `sampling.guidance_text` /
   `guidance_video`), and measures:
   - the note, from the audio: its pyin pitch, named by the nearest palette note
     (`pitch_red` / `pitch_blue`: the fraction of clips whose note is red's / blue's);
   - the note in the code domain: a naive-Bayes classifier over codec tokens (per-codebook
     token frequencies of the red vs. blue training clips) gives each generated clip a
     log-likelihood ratio red : blue per token; "toward red" = the ratio is higher with the
     prompt "red" than with "blue" for the same video and seed.  The classifier's accuracy
     on the held-out red and blue clips' true soundtracks (through the codec) says whether it
     can be trusted;
   - the beat: beat F1 of the generated audio against the video's own flashes, and against
     another held-out video's (a derangement): the video sets the beat when the first is
     higher.
Writes WORKDIR/text_video_text{G}_video{G}_seed{S}.json (guidance weights and seed, so runs
of other settings -- `--config.sampling.guidance_text=3`, `--seed 1` -- reuse the trained
model and keep each other's figures) and prints the figures.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

DEFAULT_CONFIG = "text_video"


def add_arguments(parser) -> None:
  parser.add_argument("--config", default=DEFAULT_CONFIG)
  parser.add_argument("--workdir", default="/tmp/vmas_text_video")
  parser.add_argument("--clips", type=int, default=16, help="held-out blue (and red) videos")
  parser.add_argument("--seed", type=int, default=0, help="sampling seed")


def prepare_data(config, work: Path) -> Path:
  """Training videos + caption manifest, prepared under WORKDIR/data (reused when there)."""
  from vmas_jax.data import synthetic, tfds_builder
  from vmas_jax.data.pipeline import _prepared
  d, v = config.data, config.video
  data_dir = work / "data"
  if not _prepared(data_dir):
    folder = work / "videos" / "train"
    labels = synthetic.make_synthetic_videos(folder, int(d.synthetic_examples),
                                             seconds=float(d.clip_seconds),
                                             seed=int(config.seed), size=max(64, int(v.image_size)))
    with open(folder / "manifest.csv", "w", newline="") as f:
      w = csv.writer(f)
      w.writerow(["path", "caption"])
      for x in labels:
        w.writerow([Path(x["path"]).name, x["color"]])
    c = config.copy_and_resolve_references()
    c.data.validation_fraction = 0.0
    tfds_builder.build_dataset(folder / "manifest.csv", data_dir, c, progress=False,
                               overwrite=True)
  return data_dir


def heldout(config, work: Path, n: int) -> dict[str, list[dict]]:
  """The first `n` blue and `n` red held-out videos' labels."""
  from vmas_jax.data import synthetic
  folder = work / "videos" / "heldout"
  path = folder / "labels.json"
  labels = json.loads(path.read_text()) if path.exists() else []
  if len(labels) < 6 * n:
    labels = synthetic.make_synthetic_videos(folder, 6 * n, seconds=float(config.data.clip_seconds),
                                             seed=int(config.seed) + 1,
                                             size=max(64, int(config.video.image_size)))
  return {c: [x for x in labels if x["color"] == c][:n] for c in ("blue", "red")}


class TokenClassifier:
  """Naive Bayes red : blue over codec tokens (per codebook, add-one smoothed)."""

  def __init__(self, codes_by_colour: dict[str, np.ndarray], vocab: int):
    self.logp = {}
    for colour, codes in codes_by_colour.items():  # codes [N, K, F]
      k = codes.shape[1]
      counts = np.stack([np.bincount(codes[:, j].ravel(), minlength=vocab) for j in range(k)])
      self.logp[colour] = np.log((counts + 1.0) / (counts + 1.0).sum(1, keepdims=True))

  def llr(self, codes: np.ndarray, a: str = "red", b: str = "blue") -> np.ndarray:
    """codes [N, K, F] -> mean log p_a - log p_b per token [N]."""
    for colour in (a, b):
      if colour not in self.logp:
        raise ValueError(f"no training clip is captioned {colour!r} (captions: "
                         f"{sorted(self.logp)}); raise --config.data.synthetic_examples")
    k = np.arange(codes.shape[1])[None, :, None]
    return (self.logp[a][k, codes] - self.logp[b][k, codes]).mean(axis=(1, 2))


def training_codes(data_dir) -> dict[str, np.ndarray]:
  """The prepared clips' codes [N, K, F] by caption."""
  from vmas_jax.data import tfds_builder
  source = tfds_builder.load_builder(data_dir).as_data_source("train")
  out: dict[str, list] = {}
  for i in range(len(source)):
    r = source[i]
    cap = r["caption"].decode() if isinstance(r["caption"], bytes) else str(r["caption"])
    out.setdefault(cap, []).append(np.asarray(r["codes"], np.int32))
  return {c: np.stack(v) for c, v in out.items()}


def generate(model, params, config, inputs, prompt: str, seed: int):
  """Codes [N, K, F] for the held-out `inputs` (`alignment_eval.heldout_inputs`), all with
  `prompt`."""
  import jax
  from vmas_jax.build import text_tokenizer
  from vmas_jax.sample import Sampler
  from vmas_jax.models.text.tokenizer import tokenize_fixed
  n, frames = inputs["video_beat"].shape
  ids, mask = tokenize_fixed(text_tokenizer(config.text), [prompt] * n,
                             int(config.text.max_tokens))
  cond = jax.jit(lambda p: model.apply(
      {"params": p}, inputs["video"], inputs["times"], inputs["mask"], inputs["video_beat"],
      text_ids=ids, text_mask=mask, method="encode_video"))(params)
  sc = config.sampling
  return np.asarray(Sampler(model.decoder_config, params["decoder"]).sample(
      cond["memory"], cond["memory_mask"], frames, jax.random.key(seed), top_k=int(sc.top_k), temperature=float(sc.temperature),
      guidance_scale=float(sc.guidance_text), guidance_video=float(sc.guidance_video),
      video_mask=cond["video_mask"], input_offsets=cond["offsets"]))


def run(args) -> int:
  import jax.numpy as jnp
  from vmas_jax.bench.alignment import train_and_load
  from vmas_jax.build import make_codec
  from vmas_jax.config_utils import load_config
  from vmas_jax.eval import alignment_eval
  from vmas_jax.eval import alignment_metrics as am
  from vmas_jax.models.codec import jitted_codec

  config = load_config(args.config, getattr(args, "config_overrides", []))
  work = Path(args.workdir)
  work.mkdir(parents=True, exist_ok=True)
  times = {}
  t0 = time.perf_counter()
  config.data.dir = str(prepare_data(config, work))
  sets = heldout(config, work, args.clips)
  times["prepare_s"] = time.perf_counter() - t0
  model, params = train_and_load(config, work / "run", times)
  t = time.perf_counter()
  codec, codec_vars = make_codec(config.codec)
  encode, decode = jitted_codec(codec.config, codec.dtype)
  sr, fr = int(config.codec.sample_rate), int(config.codec.frame_rate)

  classifier = TokenClassifier(
      {c: x for c, x in training_codes(config.data.dir).items() if c in ("red", "blue")},
      int(config.codec.codebook_size))
  # the classifier on the held-out true soundtracks (their codes)
  true_llr = {}
  for colour in ("red", "blue"):
    wav = alignment_eval.soundtracks(sets[colour], config)
    true_llr[colour] = classifier.llr(np.asarray(encode(codec_vars, jnp.asarray(wav))))
  classifier_acc = float(np.mean(np.concatenate([true_llr["red"] > 0, true_llr["blue"] < 0])))

  blue = sets["blue"]
  inputs = alignment_eval.heldout_inputs(blue, config)
  perm = alignment_eval.derangement(len(blue), args.seed)
  results = {}
  for prompt in ("red", "blue", ""):
    codes = generate(model, params, config, inputs, prompt, args.seed)
    wavs = np.asarray(decode(codec_vars, jnp.asarray(codes)))[:, :int(round(codes.shape[-1] / fr * sr))]
    own = [am.clip_metrics(w, sr, x) for w, x in zip(wavs, blue)]
    other = [am.beat_scores(am.onset_times(w, sr), blue[j]["beats"])["f_measure"]
             for w, j in zip(wavs, perm)]
    results[prompt] = dict(
        llr=classifier.llr(codes).tolist(),
        pitch_hz=[c["pitch_hz"] for c in own],
        pitch_colour=[am.nearest_colour(c["pitch_hz"]) for c in own],
        beat_f1_own_video=float(np.mean([c["beat_f1"] for c in own])),
        beat_f1_other_video=float(np.mean(other)))
  red, bl = np.asarray(results["red"]["llr"]), np.asarray(results["blue"]["llr"])
  summary = dict(
      clips=len(blue),
      toward_red=float(np.mean(red > bl)),
      toward_red_vs_empty_prompt=float(np.mean(red > np.asarray(results[""]["llr"]))),
      classified_red={p: float(np.mean(np.asarray(results[p]["llr"]) > 0)) for p in results},
      mean_llr={p: float(np.mean(results[p]["llr"])) for p in results},
      pitch_red={p: float(np.mean([c == "red" for c in results[p]["pitch_colour"]]))
                 for p in results},
      pitch_blue={p: float(np.mean([c == "blue" for c in results[p]["pitch_colour"]]))
                  for p in results},
      beat_f1={p: {"own_video": results[p]["beat_f1_own_video"],
                   "other_video": results[p]["beat_f1_other_video"]} for p in results},
      classifier_accuracy_true_clips=classifier_acc,
      guidance=dict(text=float(config.sampling.guidance_text),
                    video=float(config.sampling.guidance_video)))
  times["eval_s"] = time.perf_counter() - t
  name = (f"text_video_text{summary['guidance']['text']:g}_video{summary['guidance']['video']:g}"
          f"_seed{args.seed}.json")
  (work / name).write_text(json.dumps(dict(
      config=args.config, summary=summary, results=results,
      true_llr={c: v.tolist() for c, v in true_llr.items()}, times=times), indent=1))
  print(json.dumps(summary, indent=1))
  print(json.dumps(times))
  return 0
