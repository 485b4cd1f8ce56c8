"""Batch jobs over media files: which files a job tries, and a report in which every file
appears.

  files, report = list_media(["videos/", "extra.mov"], include=None)
  for path in files:
    result = report.attempt(path, work, path)   # never raises for a bad file
  report.write(out / "generate_report.json")     # {"ok": [...], "skipped": [{"path", "reason"}]}

Files named explicitly are always tried.  Under a folder (searched recursively), a file is
tried when its extension is in `MEDIA_EXTENSIONS` -- or, with `include`, when its name
matches one of those glob patterns; every other file is reported as skipped, so nothing under
the folder disappears from the report.
"""

from __future__ import annotations

import fnmatch
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Callable, Sequence

from vmas_jax.data.errors import MediaError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".flv",
                    ".ogv", ".wmv", ".ts", ".mts", ".m2ts", ".3gp", ".3g2", ".asf", ".vob",
                    ".mxf", ".dv", ".gif")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma",
                    ".aiff", ".aif")
# Audio files are tried too: a job that needs a picture then reports "no video stream".
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + AUDIO_EXTENSIONS


def is_media(path: str | os.PathLike, include: Sequence[str] | None = None) -> bool:
  """Whether a file found under a folder is tried: `include` globs (matched against the file
  name) when given, else the extension list."""
  name = Path(path).name
  if include:
    return any(fnmatch.fnmatch(name, g) for g in include)
  return Path(name).suffix.lower() in MEDIA_EXTENSIONS


def not_media_reason(path, include: Sequence[str] | None = None) -> str:
  """Why a file under a folder is not tried (without the path)."""
  if include:
    return f"not a media file (matches none of --include {' '.join(include)})"
  return (f"not a media file (extension {Path(path).suffix or '(none)'!r} is not a known "
          "media extension; pass --include to try it)")


def folder_files(folder, include: Sequence[str] | None = None) -> tuple[list[Path], list[Path]]:
  """(files tried, files not tried) under `folder`, recursively, each sorted."""
  files = sorted(x for x in Path(folder).rglob("*") if not x.is_dir())
  tried = [f for f in files if is_media(f, include)]
  return tried, [f for f in files if not is_media(f, include)]


def failure_reason(path, error: BaseException) -> str:
  """A skipped entry's reason: names the file and the problem (and, for an error that is not
  a media problem, the code location it came from)."""
  if isinstance(error, MediaError):
    return str(error) if error.path == str(path) else f"{path}: {error}"
  where = ""
  tb = traceback.extract_tb(error.__traceback__)
  if tb:
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})"
  return f"{path}: {type(error).__name__}: {error}{where}"


class BatchReport:
  """`{"ok": [...], "skipped": [{"path", "reason"}]}` of a batch job, filled as it runs."""

  def __init__(self):
    self.ok: list = []
    self.skipped: list[dict] = []

  def skip(self, path, reason: str) -> None:
    self.skipped.append({"path": str(path), "reason": reason})
    print(f"skipped {reason}", file=sys.stderr)

  def attempt(self, path, fn: Callable, *args, **kwargs):
    """`fn(*args, **kwargs)`, or None after recording any exception as a skipped `path`."""
    try:
      return fn(*args, **kwargs)
    except Exception as e:  # pylint: disable=broad-except  # one file never ends the batch
      self.skip(path, failure_reason(path, e))
      return None

  def as_dict(self) -> dict:
    return {"ok": self.ok, "skipped": self.skipped}

  def write(self, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(self.as_dict(), indent=2))
    return path


def list_media(items: Sequence[str | os.PathLike], include: Sequence[str] | None = None,
               report: BatchReport | None = None) -> tuple[list[Path], BatchReport]:
  """(files to try, report holding the files not tried) for files and folders `items`."""
  report = report if report is not None else BatchReport()
  files = []
  for item in items:
    p = Path(item)
    if not p.is_dir():
      files.append(p)  # named explicitly: tried (a missing file is reported by the job)
      continue
    tried, other = folder_files(p, include)
    files += tried
    for f in other:
      report.skip(f, f"{f}: {not_media_reason(f, include)}")
  return files, report
