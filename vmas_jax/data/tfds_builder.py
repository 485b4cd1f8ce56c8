"""The TFDS dataset of VMAS training clips, written as ArrayRecord shards.

`build_dataset(inputs, data_dir, config)` lists the source videos (a folder, searched
recursively, or a CSV manifest with a `path` column and optionally a `caption` (or `tags`)
column: the clip's text prompt, stored with each of its clips, "" when absent), turns each into clips with
`clips.video_clips` -- in plain Python or as an Apache Beam pipeline when `beam_runner` is
given -- and writes `DATA_DIR/vmas_clips/1.0.0/*.array_record-*` plus
`DATA_DIR/prepare_report.json` = {"ok": [paths], "skipped": [{"path", "reason"}], ...}.

Splits: a source video goes wholly to train or validation by a hash of its path relative to
the input root (stable when the folder moves), so no clip of a validation video is trained
on.  Every worker records the outcome of each file it handled under DATA_DIR/_prepare_log/
(a shared path on Dataflow, e.g. gs://), and the driver gathers those records into the
report, so Beam and plain builds report identically.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from vmas_jax.data import batch, clips

NAME = "vmas_clips"
VERSION = "1.0.0"
LOG_DIR = "_prepare_log"


def list_inputs(spec, include=None) -> list[tuple[str, str]]:
  """(path, split key) of the media files in a folder (recursive; by extension, or by the
  `include` globs, see `batch.is_media`) or a CSV manifest
  (`path` column; relative rows are relative to the CSV; the CSV and its rows may be remote,
  e.g. gs://), sorted and de-duplicated.  The split key is the path relative to the folder /
  CSV location (for remote objects: the object name without scheme and bucket), so it stays
  the same when the data moves."""
  if str(spec).lower().endswith(".csv"):
    return [(path, key) for path, key, _ in _manifest(str(spec))]
  folder = Path(spec)
  if not folder.is_dir():
    raise FileNotFoundError(f"{spec}: not a folder or a .csv manifest")
  files, _ = batch.folder_files(folder, include)
  return sorted({(str(p.absolute()), _split_key(p, folder)) for p in files})


def captions(spec) -> dict[str, str]:
  """path -> caption: a CSV manifest's `caption` (else `tags`) column; {} for a folder."""
  if not str(spec).lower().endswith(".csv"):
    return {}
  return {path: caption for path, _, caption in _manifest(str(spec))}


def _manifest(spec: str) -> list[tuple[str, str, str]]:
  remote = "://" in spec
  manifest = epath.Path(spec) if remote else Path(spec)
  if not manifest.is_file():
    raise FileNotFoundError(f"{spec}: CSV manifest not found")
  reader = csv.DictReader(io.StringIO(manifest.read_text()))
  if "path" not in (reader.fieldnames or []):
    raise ValueError(f"{spec}: CSV manifest has no `path` column")
  column = next((c for c in ("caption", "tags") if c in reader.fieldnames), None)
  out = {}
  for row in reader:
    r = (row["path"] or "").strip()
    if not r:
      continue
    caption = (row[column] or "").strip() if column else ""
    if "://" in r:  # an object URL: workers copy it locally to decode it
      entry = (r, r.split("://", 1)[1].partition("/")[2])
    elif remote:
      entry = (str(manifest.parent / r), r)
    else:
      p = Path(r) if Path(r).is_absolute() else manifest.parent / r
      entry = (str(p.absolute()), _split_key(p, manifest.parent))
    out.setdefault(entry, caption)  # a path listed twice keeps its first caption
  return sorted((path, key, caption) for (path, key), caption in out.items())


def _split_key(path: Path, root: Path) -> str:
  try:
    return path.absolute().relative_to(root.absolute()).as_posix()
  except ValueError:
    return path.absolute().as_posix()


def _record(log_dir: str, path: str, split: str, reason: str | None, num_clips: int) -> None:
  name = hashlib.sha1(path.encode()).hexdigest() + ".json"
  entry = dict(path=path, split=split, reason=reason, clips=num_clips)
  (epath.Path(log_dir) / name).write_text(json.dumps(entry))


def process_source(item: tuple[str, str], split: str, settings: dict, log_dir: str):
  """All (key, example) of `item` = (path, caption); records the outcome under `log_dir`.
  Never raises: one bad file never stops a build."""
  path, caption = item
  try:
    examples = [(key, dict(ex, caption=caption))
                for key, ex in clips.video_clips(path, settings)]
  except clips.MediaError as e:
    _record(log_dir, path, split, e.reason, 0)
    return []
  except Exception as e:  # pylint: disable=broad-except
    # not a media problem (maybe a bug): still skipped, with where it came from
    _record(log_dir, path, split, batch.failure_reason(path, e).removeprefix(f"{path}: "), 0)
    return []
  _record(log_dir, path, split, None, len(examples))
  return examples


class VmasClips(tfds.core.GeneratorBasedBuilder):
  """Clips of music videos: frames (JPEG) or features, EnCodec codes, beat curves."""

  RELEASE_NOTES = {VERSION: "Clips with codes [K, F] int16, beat curves at the codec rate."}
  VERSION = tfds.core.Version(VERSION)
  # nothing to download, so no checksums file; this also keeps tfds from importing the
  # optional `importlib_resources` to locate one
  code_path = None

  def __init__(self, *, files: dict | None = None, settings: dict | None = None,
               log_dir: str = "", beam: bool = False, progress: bool = True, **kwargs):
    self._files = files or {}  # split -> [(path, caption)]
    self._log_dir = log_dir
    self._settings = settings
    self._beam = beam
    self._progress = progress
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    s = self._settings
    feats = dict(
        id=tfds.features.Text(), source=tfds.features.Text(),
        start=tfds.features.Scalar(np.float32),
        frame_times=tfds.features.Tensor(shape=(None,), dtype=np.float32),
        codes=tfds.features.Tensor(shape=(s["num_codebooks"], None), dtype=np.int16),
        music_beat=tfds.features.Tensor(shape=(None,), dtype=np.float32),
        video_beat=tfds.features.Tensor(shape=(None,), dtype=np.float32),
        has_video=tfds.features.Scalar(np.bool_),  # False: a music-only clip (no frames)
        caption=tfds.features.Text())
    if s["frames_format"] == "features":
      feats["features"] = tfds.features.Tensor(shape=(None, None, None), dtype=np.float16,
                                                encoding="bytes")
    else:  # raw JPEG bytes: the Grain pipeline decodes only the frames of its window
      feats["frames"] = tfds.features.Tensor(shape=(None,), dtype=np.object_)
    if s["store_waveform"]:
      feats["waveform"] = tfds.features.Tensor(shape=(None,), dtype=np.float32)
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__, features=tfds.features.FeaturesDict(feats),
        metadata=tfds.core.MetadataDict(settings=s))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(split) for split in self._files}

  def _generate_examples(self, split: str):
    fn = functools.partial(process_source, split=split, settings=self._settings,
                           log_dir=self._log_dir)
    if self._beam:
      beam = tfds.core.lazy_imports.apache_beam
      return (beam.Create(self._files[split]) | beam.Reshuffle()  # spread files over workers
              | beam.FlatMap(fn))
    return self._generate_plain(fn, split)

  def _generate_plain(self, fn, split):
    from tqdm.auto import tqdm
    for item in tqdm(self._files[split], desc=f"prepare {split}", unit="video",
                     disable=not self._progress):
      yield from fn(item)


def build_dataset(inputs, data_dir, config, *, beam_runner: str | None = None,
                  beam_options: list[str] | tuple[str, ...] = (), progress: bool = True,
                  overwrite: bool = False, include=None) -> dict:
  """Build the dataset under `data_dir` from `inputs` (folder, CSV manifest or a list of
  paths) and write `data_dir/prepare_report.json`; returns the report.  Files of a folder
  that are not tried (see `batch.is_media`; `include`: glob patterns) are listed as skipped.

  beam_runner: e.g. "DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner";
  beam_options: pipeline flags such as "direct_num_workers=2" or "--project=P".
  """
  if not progress:
    tfds.disable_progress_bar()
  not_media = []
  if isinstance(inputs, (str, Path)):
    listed = list_inputs(inputs, include)
    if Path(inputs).is_dir():
      not_media = [dict(path=str(p.absolute()), reason=batch.not_media_reason(p, include))
                   for p in batch.folder_files(inputs, include)[1]]
  else:
    listed = sorted((str(Path(p).absolute()), Path(p).absolute().as_posix()) for p in inputs)
  settings = clips.clip_settings(config)
  files = {"validation": [], "train": []}  # validation first: it is the one likely empty
  text = captions(inputs) if isinstance(inputs, (str, Path)) else {}
  for path, key in listed:
    files[clips.split_of(key, settings["validation_fraction"])].append((path, text.get(path, "")))
  files = {k: v for k, v in files.items() if v}
  data_dir = epath.Path(data_dir)
  if "train" not in files:
    problem = "no media files" if not listed else "no video files for the train split"
    _write_report(data_dir, None, listed, not_media, unprocessed=f"not processed: {problem}")
    raise ValueError(f"{inputs}: {problem} (see {data_dir}/prepare_report.json)")
  if (data_dir / NAME).exists():
    if (data_dir / NAME / VERSION / "dataset_info.json").exists() and not overwrite:
      raise FileExistsError(f"{data_dir}: already holds a prepared dataset "
                            "(pass --overwrite to rebuild it)")
    (data_dir / NAME).rmtree()
  log_dir = data_dir / LOG_DIR
  if log_dir.exists():
    log_dir.rmtree()
  log_dir.mkdir(parents=True)
  download_config = None
  if beam_runner:
    from apache_beam.options.pipeline_options import PipelineOptions
    flags = [o if o.startswith("--") else "--" + o for o in beam_options]
    download_config = tfds.download.DownloadConfig(
        beam_runner=beam_runner, beam_options=PipelineOptions(flags))
  while True:
    builder = VmasClips(files=files, settings=settings, log_dir=str(log_dir),
                        beam=bool(beam_runner), progress=progress, data_dir=str(data_dir),
                        file_format="array_record")
    try:
      builder.download_and_prepare(download_config=download_config)
      break
    except AssertionError as e:
      # tfds cannot write a split with no examples.  When every video of the validation
      # split is unusable, build without it (its failures stay recorded in the log).
      if "No examples were yielded" not in str(e):
        raise
      if 'split "validation"' in str(e) and "validation" in files:
        del files["validation"]
        continue
      _write_report(data_dir, log_dir, listed, not_media)
      raise ValueError(f"{inputs}: no usable video for the train split "
                       f"(see {data_dir}/prepare_report.json)") from None
  return _write_report(data_dir, log_dir, listed, not_media)


def _write_report(data_dir, log_dir, listed, not_media,
                  unprocessed: str = "not processed (worker failure)") -> dict:
  """prepare_report.json from the workers' records under `log_dir` (None: nothing ran)."""
  files = [p for p, _ in listed]
  entries = {}
  for f in log_dir.glob("*.json") if log_dir is not None else ():
    e = json.loads(f.read_text())
    entries[e["path"]] = e
  ok = [p for p in files if p in entries and entries[p]["reason"] is None]
  skipped = [dict(path=p, reason=entries[p]["reason"]) for p in files
             if p in entries and entries[p]["reason"] is not None]
  # a file with no record was lost by a worker: never silently drop it from the report
  skipped += [dict(path=p, reason=unprocessed) for p in files if p not in entries]
  skipped += not_media
  splits = {s: dict(videos=sum(1 for p in ok if entries[p]["split"] == s),
                    clips=sum(entries[p]["clips"] for p in ok if entries[p]["split"] == s))
            for s in ("train", "validation")}
  report = dict(ok=ok, skipped=skipped, splits=splits, dataset_dir=f"{NAME}/{VERSION}")
  data_dir.mkdir(parents=True, exist_ok=True)
  (data_dir / "prepare_report.json").write_text(json.dumps(report, indent=1))
  if log_dir is not None:
    log_dir.rmtree()
  return report


def load_builder(data_dir):
  """The prepared dataset's builder (read-only), found under `data_dir`."""
  return tfds.builder_from_directory(str(epath.Path(data_dir) / NAME / VERSION))
