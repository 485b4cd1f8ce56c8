"""The `vmas` command line: one subcommand per job.

Each subcommand lives in `vmas_jax.commands.<name>` and defines
`add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "train": "Train VMAS (sharded, resumable): --config FILE --workdir DIR [--config.FIELD=V]",
    "generate": "Generate music for a video and write a WAV and a music video",
    "prepare": "Build the TFDS/ArrayRecord dataset from videos (or --synthetic N)",
    "convert": "Import Hugging Face / audiocraft weights into an Orbax checkpoint",
    "eval": "Evaluate generated music: beat metrics, FAD, retrieval",
    "bench": "Benchmarks: codec, decode, train, data",
    "demo": "Run the end-to-end demo on a synthetic video",
    "codec": "Audio codec: train, export (HF format), roundtrip, make-corpus",
}


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="vmas", description="Video-to-music generation in JAX.")
  sub = parser.add_subparsers(dest="command", metavar="COMMAND")
  for name, help_text in SUBCOMMANDS.items():
    p = sub.add_parser(name, help=help_text, description=help_text)
    mod = importlib.import_module(f"vmas_jax.commands.{name}")
    mod.add_arguments(p)
    p.set_defaults(_module=mod, _name=name)
  return parser


def main(argv: list[str] | None = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  parser = build_parser()
  # `--config.FIELD=VALUE` overrides are collected for subcommands that take a config.
  args, unknown = parser.parse_known_args(argv)
  if args.command is None:
    parser.print_help()
    return 2
  overrides = [u for u in unknown if u.startswith("--config.")]
  rest = [u for u in unknown if not u.startswith("--config.")]
  if rest:
    parser.error(f"unrecognized arguments: {' '.join(rest)}")
  args.config_overrides = overrides
  return int(args._module.run(args) or 0)


if __name__ == "__main__":
  sys.exit(main())
