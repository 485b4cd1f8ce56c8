"""`vmas generate VIDEO [VIDEO ...] --out DIR [--workdir RUN]`: music for videos.

Without --workdir the bundled demo model makes the music.

Writes DIR/NAME.wav and DIR/NAME_music.mp4 for each video, and DIR/generate_report.json
(`{"ok": [...], "skipped": [{"path", "reason"}]}`): a bad video is skipped and reported,
never the end of the batch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vmas_jax.data.errors import MediaError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v")


def add_arguments(parser):
  parser.add_argument("videos", nargs="+", help="video files or folders of videos")
  parser.add_argument("--workdir", default=None,
                      help="a training run's work directory (default: the bundled demo model)")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")
  parser.add_argument("--config", default=None,
                      help="config file (default: WORKDIR/config.json saved by training)")
  parser.add_argument("--out", required=True, help="output directory")
  parser.add_argument("--seconds", type=float, default=None, help="only the first SECONDS")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--best-of", type=int, default=None)
  parser.add_argument("--guidance", type=float, default=None)
  parser.add_argument("--top-k", type=int, default=None)
  parser.add_argument("--temperature", type=float, default=None)


def expand_videos(items) -> list[Path]:
  out = []
  for item in items:
    p = Path(item)
    if p.is_dir():
      out += sorted(f for f in p.rglob("*") if f.suffix.lower() in VIDEO_EXTENSIONS)
    else:
      out.append(p)
  return out


def run(args) -> int:
  from tqdm import tqdm
  from vmas_jax.config_utils import load_config
  from vmas_jax.generate import MusicVideoPipeline

  config = load_config(args.config, args.config_overrides) if args.config else None
  if args.workdir is None:
    pipe = MusicVideoPipeline.from_pretrained()
  else:
    pipe = MusicVideoPipeline.from_workdir(args.workdir, args.step, config=config)
  sampling = {k: v for k, v in dict(guidance_scale=args.guidance, top_k=args.top_k,
                                     temperature=args.temperature).items() if v is not None}
  out = Path(args.out)
  report = {"ok": [], "skipped": []}
  for video in tqdm(expand_videos(args.videos), desc="generate", unit="video"):
    try:
      r = pipe(video, out, seconds=args.seconds, seed=args.seed, best_of=args.best_of,
               **sampling)
      report["ok"].append({"path": str(video), "wav": str(r.wav_path),
                           "video": str(r.video_path)})
    except (MediaError, FileNotFoundError) as e:
      report["skipped"].append({"path": str(video), "reason": str(e)})
      print(f"skipped {e}", file=sys.stderr)
  out.mkdir(parents=True, exist_ok=True)
  (out / "generate_report.json").write_text(json.dumps(report, indent=2))
  print(f"generated {len(report['ok'])}, skipped {len(report['skipped'])} -> {out}")
  return 0 if report["ok"] else 1
