"""`vmas bench alignment`: does the music follow the video?  Train, generate, measure.

  vmas bench alignment --config alignment --workdir /tmp/vmas_alignment

1. Writes `data.synthetic_examples` aligned synthetic videos (training tempos and shapes)
   and prepares them (WORKDIR/data), and `--heldout` videos whose tempos lie between the
   training tempos and whose shapes training never shows (WORKDIR/videos/heldout).
2. Trains the config once per variant: `full`, and the ablations `no_contrastive`,
   `no_beat_conditioning`, `no_beat_loss` (WORKDIR/<variant>; a finished run is reused).
3. For each variant generates music for every held-out clip given its video, given a
   shuffled video, and unconditionally, and measures from the audio (eval/alignment_eval).
Writes WORKDIR/alignment.json, alignment.md (the table) and alignment.png; with
`--export DIR` also the `full` model as an exported model folder (the bundled demo model).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

DEFAULT_CONFIG = "alignment"
VARIANTS = {
    "full": {},
    "no_contrastive": {"loss.contrastive_weight": 0.0},
    "no_beat_conditioning": {"model.beat_conditioning": False},
    "no_beat_loss": {"loss.beat_weight": 0.0},
}
COLUMNS = (("beat_f1", "beat F1"), ("beat_hit", "BHS"), ("beat_alignment", "BAS"),
           ("tempo_error", "tempo err"), ("colour_correct", "colour acc"), ("r@1", "R@1"),
           ("r@5", "R@5"))


def add_arguments(parser) -> None:
  parser.add_argument("--config", default=DEFAULT_CONFIG)
  parser.add_argument("--workdir", default="/tmp/vmas_alignment")
  parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
  parser.add_argument("--heldout", type=int, default=32, help="held-out videos")
  parser.add_argument("--seed", type=int, default=0, help="sampling seed")
  parser.add_argument("--export", default=None, metavar="DIR",
                      help="also export the `full` model here (bf16; vmas_jax.exported_model)")


def variant_config(config, variant: str):
  c = config.copy_and_resolve_references()
  for key, value in VARIANTS[variant].items():
    section, field = key.split(".")
    c[section][field] = value
  return c


def prepare_data(config, work: Path, heldout: int, picture: bool = True
                 ) -> tuple[Path, list[dict]]:
  """(prepared training data dir, held-out labels); both reused when already there.
  `picture=False`: the training clips are the synthetic videos' soundtracks alone."""
  from vmas_jax.data import synthetic, tfds_builder
  from vmas_jax.data.pipeline import _prepared
  d, v = config.data, config.video
  data_dir = work / "data"
  if not _prepared(data_dir):
    train_dir = work / ("videos" if picture else "music") / "train"
    synthetic.make_synthetic_videos(train_dir, int(d.synthetic_examples),
                                    size=max(64, int(v.image_size)), picture=picture,
                                    **synthetic.training_set_options(config))
    c = config.copy_and_resolve_references()
    c.data.validation_fraction = 0.0
    tfds_builder.build_dataset(train_dir, data_dir, c, progress=False, overwrite=True)
  return data_dir, heldout_videos(config, work, heldout)


def train_and_load(config, workdir: Path, times: dict, name: str = "train"):
  """Train `config` in `workdir` (its seconds go to times[f"{name}_s"]) and return
  (model, params of the last checkpoint)."""
  from vmas_jax.build import build_model
  from vmas_jax.train import load_checkpoint, train
  t = time.perf_counter()
  result = train(config, workdir)
  times[f"{name}_s"] = time.perf_counter() - t
  if result["stopped_early"]:  # SIGTERM: measuring an unfinished model would be a wrong row
    raise SystemExit(f"{workdir}: training stopped at step {result['step']} (a stop signal); "
                     f"its checkpoint is saved: run the same command again to resume")
  return build_model(config), load_checkpoint(workdir)["params"]


def heldout_videos(config, work: Path, heldout: int) -> list[dict]:
  """Labels of `heldout` synthetic videos under WORKDIR/videos/heldout (reused when there)
  with tempos between the training ones and shapes training never shows."""
  from vmas_jax.data import synthetic
  labels_path = work / "videos" / "heldout" / "labels.json"
  labels = json.loads(labels_path.read_text()) if labels_path.exists() else []
  if len(labels) != heldout:
    labels = synthetic.make_synthetic_videos(
        work / "videos" / "heldout", heldout, seconds=float(config.data.clip_seconds),
        seed=int(config.seed) + 1, size=max(64, int(config.video.image_size)),
        tempos=synthetic.HELD_OUT_TEMPOS_BPM, shapes=synthetic.HELD_OUT_SHAPES,
        beat_grid=float(config.data.get("synthetic_beat_grid", 0.0)))
  return labels


def markdown_table(results: dict, reference: dict) -> str:
  head = "| model | music from | " + " | ".join(t for _, t in COLUMNS) + " |"
  lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
  fmt = lambda row: " | ".join("" if k not in row else f"{row[k]:.2f}" for k, _ in COLUMNS)
  for variant, conds in results.items():
    for cond, r in conds.items():
      lines.append(f"| {variant} | {cond} | {fmt(r['mean'])} |")
  lines.append(f"| (codec) | true soundtrack | {fmt(reference['mean'])} |")
  return "\n".join(lines) + "\n"


def plot(path: Path, results: dict, reference: dict) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  metrics = (("beat_f1", "beat F1"), ("colour_correct", "colour acc"), ("r@5", "R@5"))
  fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.6))
  for ax, (key, title) in zip(axes, metrics):
    names = list(results)
    x = np.arange(len(names))
    for j, cond in enumerate(("video", "shuffled", "unconditional")):
      ax.bar(x + (j - 1) * 0.27, [results[n][cond]["mean"][key] for n in names], 0.27,
             label=cond)
    if key in reference["mean"]:
      ax.axhline(reference["mean"][key], color="k", ls=":", lw=1, label="codec ceiling")
    ax.set_xticks(x, [n.replace("_", "\n") for n in names], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
  axes[0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def write_report(work: Path, config_path: str, labels, results: dict, reference: dict,
                 times: dict) -> str:
  """WORKDIR/alignment.{md,json,png} for the variants done so far; returns the table."""
  table = markdown_table(results, reference)
  (work / "alignment.md").write_text(table)
  plot(work / "alignment.png", results, reference)
  strip = lambda r: {k: v for k, v in r.items() if k not in ("codes", "wavs")}
  (work / "alignment.json").write_text(json.dumps(dict(
      config=config_path,
      heldout=[{k: v[k] for k in ("color", "bpm", "shape")} for v in labels],
      results={v: {c: strip(r) for c, r in conds.items()} for v, conds in results.items()},
      reference=strip(reference), times=times), indent=1))
  return table


def run(args) -> int:
  from vmas_jax.config_utils import load_config
  from vmas_jax.eval import alignment_eval

  config = load_config(args.config, getattr(args, "config_overrides", []))
  work = Path(args.workdir)
  work.mkdir(parents=True, exist_ok=True)
  times = {}
  t0 = time.perf_counter()
  data_dir, labels = prepare_data(config, work, args.heldout)
  times["prepare_s"] = time.perf_counter() - t0
  config.data.dir = str(data_dir)
  inputs = alignment_eval.heldout_inputs(labels, config)
  t = time.perf_counter()
  reference = alignment_eval.evaluate_codec(config, labels)
  times["codec_reference_s"] = time.perf_counter() - t
  results = {}
  for variant in args.variants:
    cfg = variant_config(config, variant)
    model, params = train_and_load(cfg, work / variant, times, f"train_{variant}")
    t = time.perf_counter()
    if variant == "full" and args.export:
      from vmas_jax.exported_model import export_model
      export_model(cfg, params, args.export)
    results[variant] = alignment_eval.evaluate_model(model, params, cfg, labels, inputs,
                                                     seed=args.seed)
    times[f"eval_{variant}_s"] = time.perf_counter() - t
    print(f"{variant}: " + json.dumps({c: r["mean"] for c, r in results[variant].items()}))
    times["total_s"] = time.perf_counter() - t0
    table = write_report(work, args.config, labels, results, reference, times)
  print(table)
  print(json.dumps(times))
  return 0
