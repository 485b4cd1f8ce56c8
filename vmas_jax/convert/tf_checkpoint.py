"""Read a TensorFlow V2 checkpoint (`PREFIX.index` + `PREFIX.data-NNNNN-of-MMMMM`) without TF.

The index is an SSTable (LevelDB table format, uncompressed) whose keys are tensor names and
whose values are serialized `BundleEntryProto`s: dtype, shape, data shard, byte offset and size.
The empty key holds the `BundleHeaderProto` (number of shards, endianness).  Tensor bytes are
raw little-endian arrays in the data shards.  Only what the tensor bundle writer produces is
handled: no compression, no partitioned (sliced) variables.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
           9: np.int64, 10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32,
           23: np.uint64}


class CheckpointFormatError(ValueError):
  pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
  value, shift = 0, 0
  while True:
    if pos >= len(buf):
      raise CheckpointFormatError("truncated varint")
    b = buf[pos]
    pos += 1
    value |= (b & 0x7F) << shift
    if b < 0x80:
      return value, pos
    shift += 7


def _fields(buf: bytes):
  """(field number, wire type, value) of a protobuf message; length-delimited values as bytes."""
  pos = 0
  while pos < len(buf):
    key, pos = _varint(buf, pos)
    field, wire = key >> 3, key & 7
    if wire == 0:
      value, pos = _varint(buf, pos)
    elif wire == 1:
      value, pos = buf[pos:pos + 8], pos + 8
    elif wire == 2:
      n, pos = _varint(buf, pos)
      value, pos = buf[pos:pos + n], pos + n
    elif wire == 5:
      value, pos = buf[pos:pos + 4], pos + 4
    else:
      raise CheckpointFormatError(f"unsupported protobuf wire type {wire}")
    yield field, wire, value


def _block_entries(data: bytes, handle: tuple[int, int]):
  """(key, value) pairs of one table block (prefix-compressed keys, restart array at the end)."""
  offset, size = handle
  block = data[offset:offset + size]
  if len(block) != size or data[offset + size] != 0:  # trailer: compression type 0 = none
    raise CheckpointFormatError("compressed or truncated index block")
  num_restarts = struct.unpack("<I", block[-4:])[0]
  end = size - 4 - 4 * num_restarts
  pos, key = 0, b""
  while pos < end:
    shared, pos = _varint(block, pos)
    unshared, pos = _varint(block, pos)
    value_len, pos = _varint(block, pos)
    key = key[:shared] + block[pos:pos + unshared]
    pos += unshared
    yield key, block[pos:pos + value_len]
    pos += value_len


def _handle(buf: bytes, pos: int = 0) -> tuple[tuple[int, int], int]:
  offset, pos = _varint(buf, pos)
  size, pos = _varint(buf, pos)
  return (offset, size), pos


def _entry(value: bytes) -> dict:
  entry = dict(dtype=1, shape=(), shard=0, offset=0, size=0, sliced=False)
  for field, _, v in _fields(value):
    if field == 1:
      entry["dtype"] = v
    elif field == 2:
      dims = []
      for f, _, dim in _fields(v):
        if f == 2:
          dims.append(next((s for g, _, s in _fields(dim) if g == 1), 0))
      entry["shape"] = tuple(dims)
    elif field == 3:
      entry["shard"] = v
    elif field == 4:
      entry["offset"] = v
    elif field == 5:
      entry["size"] = v
    elif field == 7:
      entry["sliced"] = True
  return entry


def read_index(prefix) -> tuple[dict[str, dict], int]:
  """({tensor name: entry}, number of data shards) from PREFIX.index."""
  path = Path(str(prefix) + ".index")
  data = path.read_bytes()
  if len(data) < _FOOTER or struct.unpack("<Q", data[-8:])[0] != _MAGIC:
    raise CheckpointFormatError(f"{path}: not a TensorFlow checkpoint index (bad magic)")
  footer = data[-_FOOTER:]
  _, pos = _handle(footer)
  index_handle, _ = _handle(footer, pos)
  entries, num_shards = {}, 1
  for _, block_handle in _block_entries(data, index_handle):
    for key, value in _block_entries(data, _handle(block_handle)[0]):
      if key == b"":  # BundleHeaderProto
        for field, _, v in _fields(value):
          if field == 1:
            num_shards = v
          elif field == 2 and v != 0:
            raise CheckpointFormatError(f"{path}: big-endian checkpoints are not supported")
        continue
      entries[key.decode()] = _entry(value)
  return entries, num_shards


def load_tf_checkpoint(prefix, names=None) -> dict[str, np.ndarray]:
  """{tensor name: array} of a TF V2 checkpoint; `names` restricts which tensors are read.

  prefix: the path without `.index` (a directory's checkpoint saved as "DIR/" has the prefix
  "DIR/", so its files are DIR/.index and DIR/.data-00000-of-00001).
  """
  entries, num_shards = read_index(prefix)
  out = {}
  shards = {}
  try:
    for name in entries if names is None else names:
      if name not in entries:
        raise KeyError(f"{prefix}: no tensor {name!r} in the checkpoint")
      e = entries[name]
      if e["sliced"]:
        raise CheckpointFormatError(f"{prefix}: {name} is a partitioned variable (unsupported)")
      if e["dtype"] not in _DTYPES:
        raise CheckpointFormatError(f"{prefix}: {name} has unsupported dtype {e['dtype']}")
      dtype = np.dtype(_DTYPES[e["dtype"]]).newbyteorder("<")
      count = int(np.prod(e["shape"], dtype=np.int64))
      if count * dtype.itemsize != e["size"]:
        raise CheckpointFormatError(f"{prefix}: {name}: {e['size']} bytes for shape "
                                    f"{e['shape']} of {dtype}")
      shard = e["shard"]
      if shard not in shards:
        shards[shard] = open(f"{prefix}.data-{shard:05d}-of-{num_shards:05d}", "rb")
      fh = shards[shard]
      fh.seek(e["offset"])
      raw = fh.read(e["size"])
      if len(raw) != e["size"]:
        raise CheckpointFormatError(f"{prefix}: {name}: data shard {shard} is truncated")
      out[name] = np.frombuffer(raw, dtype).astype(dtype.newbyteorder("=")).reshape(e["shape"])
  finally:
    for fh in shards.values():
      fh.close()
  return out
