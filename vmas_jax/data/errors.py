"""The one error type for unusable media files; its message always names the file."""

from __future__ import annotations

import os


class MediaError(ValueError):
  """A media file cannot be used: `MediaError(path, reason)` -> "PATH: reason"."""

  def __init__(self, path: str | os.PathLike, reason: str):
    self.path = str(path)
    self.reason = reason
    super().__init__(f"{self.path}: {reason}")
