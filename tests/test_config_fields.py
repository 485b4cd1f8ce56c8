"""Every field of the default config trees is read somewhere in `vmas_jax`.

A field nothing reads is a setting that silently does nothing.  The check is textual: the
field's name must appear in the package source, outside the files that define the defaults,
as an attribute (`.name`) or a string key (`"name"`).
"""

import pathlib
import re

import pytest

import vmas_jax
from vmas_jax.config_defaults import base_config, tiny_config
from vmas_jax.train.codec_config import codec_base_config

ROOT = pathlib.Path(vmas_jax.__file__).parent
DEFINING = {"config_defaults.py", "codec_config.py"}


def _source() -> str:
  return "\n".join(p.read_text() for p in sorted(ROOT.rglob("*.py"))
                   if p.name not in DEFINING and "configs" not in p.relative_to(ROOT).parts)


def _leaves(node, prefix=""):
  for key, value in node.items():
    if hasattr(value, "items"):
      yield from _leaves(value, f"{prefix}{key}.")
    else:
      yield f"{prefix}{key}"


@pytest.mark.parametrize("make", [base_config, tiny_config, codec_base_config],
                         ids=["base", "tiny", "codec"])
def test_every_config_field_is_read(make):
  source = _source()
  unread = []
  for field in _leaves(make()):
    leaf = field.rsplit(".", 1)[-1]
    if re.search(rf"\.{leaf}\b|[\"']{leaf}[\"']", source):
      continue
    unread.append(field)
  assert not unread, f"config fields that no code in vmas_jax reads: {unread}"


def test_the_check_catches_an_unread_field():
  c = base_config()
  c.video.max_seconds_nobody_reads = 1.0
  source = _source()
  assert not re.search(r"\.max_seconds_nobody_reads\b", source)
  assert "video.max_seconds_nobody_reads" in list(_leaves(c))


def test_decoder_tokens_follow_the_codec():
  c = tiny_config()
  c.codec.num_codebooks, c.codec.codebook_size = 8, 1024
  assert (c.decoder.num_codebooks, c.decoder.vocab_size) == (8, 1024)
