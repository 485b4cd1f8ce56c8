"""`vmas eval --generated DIR`: beat metrics of generated music against its videos.

Reads DIR/generate_report.json (written by `vmas generate`), scores each (video, wav) pair
and writes DIR/eval_report.json with per-item scores, their means, and skipped items.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from vmas_jax.data.errors import MediaError

METRICS = ("bcs", "bhs", "bas", "f_measure")


def add_arguments(parser):
  parser.add_argument("--generated", required=True, help="a `vmas generate --out` directory")
  parser.add_argument("--fps", type=float, default=24.0,
                      help="video sampling rate of the motion that gives the video beats")


def run(args) -> int:
  from vmas_jax.eval.beat_eval import score_pair

  out = Path(args.generated)
  report_path = out / "generate_report.json"
  if not report_path.is_file():
    print(f"vmas eval: {report_path}: missing (run vmas generate --out {out} first)",
          file=sys.stderr)
    return 2
  items = json.loads(report_path.read_text())["ok"]
  scored, skipped = [], []
  for item in items:
    try:
      scored.append(dict(path=item["path"], **score_pair(item["path"], item["wav"],
                                                         fps=args.fps)))
    except (MediaError, FileNotFoundError) as e:
      skipped.append({"path": item["path"], "reason": str(e)})
  mean = {m: float(np.nanmean([s[m] for s in scored])) if scored else float("nan")
          for m in METRICS}
  result = {"mean": mean, "items": scored, "skipped": skipped}
  (out / "eval_report.json").write_text(json.dumps(result, indent=2))
  print(json.dumps({"mean": mean, "scored": len(scored), "skipped": len(skipped)}))
  return 0 if scored else 1
