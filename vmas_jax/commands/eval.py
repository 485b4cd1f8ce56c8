"""`vmas eval --generated DIR [--reference DIR] [--videos DIR] [--workdir RUN]`.

FAD and tag KL against reference music (`--reference`, embedding model `--embedding`, default
musicnn: offline), beat metrics against the videos (from DIR/generate_report.json or
`--videos`), and with `--workdir` the video–music similarity of the run's contrastive heads.
Writes DIR/eval_report.json and DIR/eval_report.md (see vmas_jax.eval.report).
"""

from __future__ import annotations

import json
import sys


def add_arguments(parser):
  from vmas_jax.eval.embeddings import embedder_names
  parser.add_argument("--generated", required=True, help="folder of generated music (e.g. a "
                      "`vmas generate --out` directory)")
  parser.add_argument("--reference", help="folder of reference music: FAD and tag KL")
  parser.add_argument("--videos", help="folder of videos; NAME.wav is scored against NAME.*")
  parser.add_argument("--workdir", help="training run: video-music similarity of its heads")
  parser.add_argument("--embedding", default="musicnn", choices=embedder_names(),
                      help="embedding model for FAD / KL: musicnn (offline), vggish, clap")
  parser.add_argument("--embedding-weights", help="its weights: vggish: torchvggish's "
                      "vggish-10086976.pth; clap: a HF CLAP directory or hub id (default "
                      "laion/larger_clap_music); musicnn: a checkpoint directory")
  parser.add_argument("--cache-dir", help="embedding cache (default ~/.cache/vmas_jax/"
                      "eval_embeddings or $VMAS_EVAL_CACHE)")
  parser.add_argument("--fps", type=float, default=24.0,
                      help="video sampling rate of the motion that gives the video beats")


def run(args) -> int:
  from vmas_jax.eval.report import evaluate, markdown_table, write_report
  try:
    report = evaluate(args.generated, args.reference, args.videos, args.workdir,
                      embedding=args.embedding, embedding_weights=args.embedding_weights,
                      cache_dir=args.cache_dir, fps=args.fps)
  except (FileNotFoundError, ValueError) as e:  # missing inputs or weights, bad checkpoint
    print(f"vmas eval: {e}", file=sys.stderr)
    return 2
  path = write_report(report, args.generated)
  print(markdown_table(report))
  print(json.dumps({"report": str(path), "scored": len(report["items"]),
                    "skipped": len(report["skipped"])}))
  return 0 if report["items"] else 1
