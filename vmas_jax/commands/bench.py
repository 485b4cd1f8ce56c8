"""`vmas bench NAME ...`: benchmarks that print measured figures (never part of the tests).

Each benchmark lives in `vmas_jax.bench.<name>` with `add_arguments(parser)` and `run(args)`.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "codec": "EnCodec encode+decode time",
    "codec-quality": "codec reconstruction quality: log-mel L1, onset F1, note pitch",
    "decode": "music-decoder sampler vs. HF PyTorch generate",
    "video": "video decoding and frame-backbone throughput",
    "data": "prepare and loader throughput",
    "train": "train step time, tokens/s, MFU",
    "memory": "peak memory of generating music for a long video",
    "alignment": "train on aligned synthetic videos, measure how the music follows held-out ones",
    "music-only": "train on synthetic music alone, measure how the music follows flash videos",
    "text-video": "train text + video on captioned synthetic videos, steer the note by prompt",
}


def add_arguments(parser):
  sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK")
  for name, help_text in BENCHMARKS.items():
    p = sub.add_parser(name, help=help_text, description=help_text)
    mod = importlib.import_module(f"vmas_jax.bench.{name.replace('-', '_')}")
    mod.add_arguments(p)
    p.set_defaults(_bench=mod, _bench_name=name)


def run(args) -> int:
  if getattr(args, "benchmark", None) is None:
    print("vmas bench: name a benchmark: " + ", ".join(BENCHMARKS), file=sys.stderr)
    return 2
  return int(args._bench.run(args) or 0)
