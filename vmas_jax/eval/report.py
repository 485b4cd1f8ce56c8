"""`vmas eval`'s report: FAD, tag KL, beat scores and video–music similarity in one place.

  report = evaluate(generated="gen/", reference="ref/", videos="videos/")
  write_report(report, "gen/")   # gen/eval_report.json + gen/eval_report.md

Beat pairs (video, generated audio) come from GENERATED/generate_report.json when `vmas
generate` wrote one, else from `videos`: a generated NAME.wav pairs with videos/NAME.*.
Every file that cannot be used is listed in `skipped` with its reason; the rest are scored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vmas_jax.data.errors import MediaError
from vmas_jax.eval import fad as fad_lib
from vmas_jax.eval.audio_sets import audio_files, embed_files

BEAT_METRICS = ("bcs", "bhs", "bas", "f_measure")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v")


def _beat_pairs(generated: Path, videos) -> list[dict]:
  report = generated / "generate_report.json"
  if videos is None and report.is_file():
    return [{"video": it["path"], "wav": it["wav"]} for it in json.loads(report.read_text())["ok"]]
  if videos is None:
    return []
  by_stem = {p.stem: p for p in sorted(Path(videos).iterdir())
             if p.suffix.lower() in VIDEO_SUFFIXES}
  return [{"video": str(by_stem[w.stem]), "wav": str(w)} for w in audio_files(generated)
          if w.stem in by_stem]


def _item(items: dict, path) -> dict:
  """The per-file entry of `path` (one per file however its path was spelled)."""
  return items.setdefault(str(Path(path).resolve()), {"path": str(path)})


def _mean(values) -> float | None:
  values = [v for v in values if v is not None and np.isfinite(v)]
  return float(np.mean(values)) if values else None


def evaluate(generated, reference=None, videos=None, workdir=None, *, embedding="musicnn",
             embedding_weights=None, cache_dir=None, fps: float = 8.0,
             progress: bool = True) -> dict:
  """The report dict (see the module docstring); JSON-serialisable.  `embedding_weights`:
  the embedding model's weights (see vmas_jax.eval.embeddings; None: its default)."""
  from vmas_jax.eval.beat_eval import score_pair
  generated = Path(generated)
  items: dict[str, dict] = {}
  skipped: list[dict] = []
  report: dict = {"generated": str(generated), "reference": reference and str(reference)}

  if reference is not None:
    from vmas_jax.eval.embeddings import get_embedder
    embedder = get_embedder(embedding, embedding_weights)
    gen, s_gen = embed_files(audio_files(generated), embedder, cache_dir=cache_dir,
                             progress=progress, desc="embed generated")
    ref, s_ref = embed_files(audio_files(reference), embedder, cache_dir=cache_dir,
                             progress=progress, desc="embed reference")
    skipped += s_gen + s_ref
    report["embedding"] = embedder.key
    report["fad"] = None
    if gen and ref:
      report["fad"] = fad_lib.fad(np.concatenate([e.embeddings for e in ref.values()]),
                                  np.concatenate([e.embeddings for e in gen.values()]))
    report["kl"] = None
    if embedder.labels is not None and gen and ref:
      kl = fad_lib.tag_kl({Path(p).stem: e.tags for p, e in ref.items()},
                          {Path(p).stem: e.tags for p, e in gen.items()})
      report["kl"], report["kl_paired"] = kl["kl"], kl["paired"]
      for path in gen:
        stem = Path(path).stem
        item = _item(items, path)
        if stem in kl["pairs"]:
          item["kl"] = kl["pairs"][stem]
    for path, e in gen.items():
      _item(items, path)["windows"] = int(len(e.embeddings))

  pairs = _beat_pairs(generated, videos)
  for pair in pairs:
    try:
      scores = score_pair(pair["video"], pair["wav"], fps=fps)
    except (MediaError, FileNotFoundError) as e:
      skipped.append({"path": pair["video"], "reason": str(e)})
      continue
    _item(items, pair["wav"]).update(video=pair["video"], **scores)
  if pairs:
    for m in BEAT_METRICS:
      report[m] = _mean(it.get(m) for it in items.values())

  if workdir is not None:
    from vmas_jax.eval.similarity import video_music_similarity
    scored = [p for p in pairs if "video" in _item(items, p["wav"])]
    sims, s_sim, retrieval = video_music_similarity(workdir, scored, progress=progress)
    skipped += s_sim
    for wav, sim in sims.items():
      _item(items, wav)["similarity"] = sim
    report["similarity"] = _mean(sims.values())
    report["retrieval"] = retrieval

  report["items"] = list(items.values())
  report["skipped"] = skipped
  return report


def markdown_table(report: dict) -> str:
  """One row per metric that was computed."""
  rows = [("FAD (" + report.get("embedding", "") + ")", report.get("fad")),
          ("KL tags" + (" (paired)" if report.get("kl_paired") else ""), report.get("kl"))]
  rows += [(m.upper() if m != "f_measure" else "beat F", report.get(m)) for m in BEAT_METRICS]
  rows.append(("video-music similarity", report.get("similarity")))
  rows += [(f"retrieval {k}", v) for k, v in report.get("retrieval", {}).items()]
  lines = ["| metric | value |", "|---|---|"]
  lines += [f"| {name} | {value:.4f} |" for name, value in rows if value is not None]
  lines.append(f"\n{len(report['items'])} files scored, {len(report['skipped'])} skipped.")
  lines += [f"- skipped {s['path']}: {s['reason']}" for s in report["skipped"]]
  return "\n".join(lines) + "\n"


def write_report(report: dict, out_dir) -> Path:
  out_dir = Path(out_dir)
  (out_dir / "eval_report.json").write_text(json.dumps(report, indent=2))
  (out_dir / "eval_report.md").write_text(markdown_table(report))
  return out_dir / "eval_report.json"
