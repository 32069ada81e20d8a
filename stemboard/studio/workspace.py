"""The studio's state and what it can do, with no HTTP in sight: open, separate, preview, save,
export. The web layer (:mod:`stemboard.studio.app`) only translates requests into these calls.

Everything here goes through stemboard's public pieces: the node separates (into the
:mod:`stem cache <stemboard.studio.stem_cache>`), presets are checked by the preset schema
(:func:`~stemboard.graph.preset_parse.parse_preset`), graphs are built by
:func:`~stemboard.graph.presets.build_graph`, a preview runs that graph on the cached stems
(``separated=True``) and an export is the :class:`~stemboard.render.GraphRender` that
``stemboard render`` runs. So a saved preset renders, with ``stemboard render``, to exactly the
files an export writes.

Example::

    studio = Studio("demo", out_dir="studio-out")
    track = studio.open_file("song.wav")          # separation starts in the background
    names, audio, rate = studio.preview(track.id, preset_data, 0.0, 10.0, "mix")
    studio.close()
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stemboard.audio.reading import AudioInfo, display
from stemboard.errors import InvalidValueError, MissingFileError, PresetError, StemboardError
from stemboard.graph.effects import parameters, plugin_names
from stemboard.graph.graph import MIX
from stemboard.graph.preset_model import Preset, StemSettings, preset_to_dict
from stemboard.graph.preset_parse import load_preset_file, parse_preset, save_preset
from stemboard.graph.preset_yaml import parse_yaml
from stemboard.graph.presets import build_graph, shipped_presets
from stemboard.node import SeparatorNode
from stemboard.node.contracts import whole
from stemboard.node.settings import DEFAULT_MODEL, DEFAULT_OVERLAP, NodeSettings
from stemboard.registry import cache_dir
from stemboard.render import GraphRender, check_input
from stemboard.studio.jobs import Job, JobRunner, finished
from stemboard.studio.request_data import check_plain, shown
from stemboard.studio.stem_cache import DEFAULT_LIMIT_BYTES, StemCache, peaks, read_stems
from stemboard.version import __version__

MAX_PREVIEW_SECONDS = 30.0
PREROLL_SECONDS = 1.0
DEFAULT_MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9 ._()+-]")
_PRESET_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class NotFoundError(StemboardError, LookupError):
    """A track, stem, job, file or preset the studio does not have."""


class NotReadyError(StemboardError):
    """Something asked of a track before its stems are separated."""


class UploadTooLargeError(StemboardError):
    """An upload beyond the studio's size limit."""


@dataclass
class StudioTrack:
    """An opened audio file: where it is, what it holds, and its separation job."""

    id: str
    name: str
    path: Path
    info: AudioInfo
    job: Job
    stems: Path | None = None  # the cache entry, once separated

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "sample_rate": self.info.sample_rate,
            "channels": self.info.channels,
            "frames": self.info.frames,
            "duration": self.info.duration,
            "stems_ready": self.stems is not None,
            "job": self.job.to_json(),
        }


def effect_registry() -> dict[str, dict]:
    """Every effect a chain can hold, with its parameters, from the preset's effect registry."""
    effects = {}
    for name in plugin_names():
        described = {}
        for key, info in parameters(name).items():
            bounds = info.range
            described[key] = {
                "kind": info.kind,
                "default": info.default,
                "choices": list(info.choices),
                "low": None if bounds is None else bounds.low,
                "high": None if bounds is None else bounds.high,
                "low_open": bool(bounds and bounds.low_open),
                "high_open": bool(bounds and bounds.high_open),
            }
        effects[name] = {"parameters": described}
    return effects


def _seconds(label: str, value: Any) -> float:
    """A region's bound: a finite number (an int too, unless it is beyond a float's range)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= sys.float_info.max:
        value = float(value)
    if not (isinstance(value, float) and math.isfinite(value)):
        raise InvalidValueError(f"{label} must be a number of seconds, got {shown(value)}")
    return value


def safe_file_name(name: str) -> str:
    """An uploaded file's name as it is stored: the last path part, plain characters only."""
    base = _SAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).strip(" .")
    if not base:
        raise InvalidValueError(f"{shown(name)} is not a usable file name")
    return base[:200]


class Studio:
    """One studio session: a node, the tracks opened, the jobs, the stem cache, the out folder.

    ``model`` and the separation options are the node's (or ``model`` is a node already
    open); ``out_dir`` receives saved presets
    and exports; ``cache`` is the stem cache's folder (``$STEMBOARD_CACHE/studio``), kept under
    ``cache_limit_bytes`` (the tracks open in this studio always stay).
    """

    def __init__(
        self,
        model: str | os.PathLike | SeparatorNode = DEFAULT_MODEL,
        *,
        device: str = "auto",
        precision: str = "auto",
        overlap: float = DEFAULT_OVERLAP,
        shifts: int = 0,
        seed: int = 0,
        out_dir: str | os.PathLike = "studio-out",
        cache: str | os.PathLike | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        cache_limit_bytes: int = DEFAULT_LIMIT_BYTES,
    ):
        if isinstance(model, SeparatorNode):  # a node already open (the command opens one)
            self.node = model
        else:
            settings = NodeSettings(model, device, overlap, None, precision, shifts, seed)
            self.node = SeparatorNode.from_settings(settings)
        # what a saved preset says of the model: a file by its absolute path
        self.model = self.node.settings.portable()
        self.out_dir = Path(out_dir).resolve()
        self.cache = StemCache(
            Path(cache) if cache is not None else cache_dir() / "studio", cache_limit_bytes
        )
        self.max_upload_bytes = max_upload_bytes
        self.uploads = Path(tempfile.mkdtemp(prefix="stemboard-studio-"))
        self.tracks: dict[str, StudioTrack] = {}
        self.jobs = JobRunner()
        self._lock = threading.Lock()

    # -- the session ---------------------------------------------------------------------

    def info(self) -> dict:
        return {
            "version": __version__,
            "model": {
                "name": self.model.name,
                "sources": list(self.node.sources),
                "sample_rate": self.node.sample_rate,
                "description": self.node.describe(),
            },
            "effects": effect_registry(),
            "presets": self.shipped_names(),
            "max_upload_bytes": self.max_upload_bytes,
            "max_preview_seconds": MAX_PREVIEW_SECONDS,
            "out_dir": str(self.out_dir),
        }

    def close(self) -> None:
        """Stop the jobs (a running one is cancelled, leaving no files) and drop the uploads."""
        self.jobs.close()
        shutil.rmtree(self.uploads, ignore_errors=True)

    # -- tracks ------------------------------------------------------------------------------

    def open_file(self, path: str | os.PathLike, name: str | None = None) -> StudioTrack:
        """Open an audio file the user named: checked now, separated in the background (or
        found in the cache)."""
        path = Path(path).resolve()
        if not path.exists():
            raise MissingFileError(f"{display(path)}: no such file")
        info = check_input(path)
        key = self.cache.key(path, self.node)
        track_id = secrets.token_hex(8)
        folder = self.cache.find(key, self.node.sources)
        if folder is not None:
            track = StudioTrack(track_id, name or path.name, path, info, finished("separate"))
            track.stems = folder
            self.jobs.add(track.job)
        else:
            track = StudioTrack(track_id, name or path.name, path, info, None)  # type: ignore[arg-type]

            def separate(progress) -> list:
                track.stems = self.cache.separate(self.node, path, key, progress)
                with self._lock:
                    open_now = {t.stems.name for t in self.tracks.values() if t.stems is not None}
                self.cache.prune(keep=open_now | {key})
                return []

            track.job = self.jobs.submit("separate", separate)
        with self._lock:
            self.tracks[track.id] = track
        return track

    def upload_target(self, name: str) -> Path:
        """Where an upload called ``name`` is stored: a new folder of its own. The web layer
        streams the body there (up to :attr:`max_upload_bytes`), then calls :meth:`open_upload`,
        or :meth:`discard_upload` if the body did not arrive whole."""
        safe = safe_file_name(name)
        return Path(tempfile.mkdtemp(dir=self.uploads)) / safe

    def open_upload(self, target: Path) -> StudioTrack:
        """Open an upload stored at :meth:`upload_target`; removed again if it is not audio."""
        try:
            if target.stat().st_size == 0:
                raise InvalidValueError(f"{target.name}: the upload is empty")
            return self.open_file(target, target.name)
        except StemboardError as error:
            self.discard_upload(target)
            # the page knows the file by its name; the studio's temporary folder is no news
            message = str(error).replace(display(target), target.name)
            raise type(error)(message) from None
        except BaseException:
            self.discard_upload(target)
            raise

    def discard_upload(self, target: Path) -> None:
        shutil.rmtree(target.parent, ignore_errors=True)

    def too_large(self, name: str) -> str:
        limit = self.max_upload_bytes / (1024 * 1024)
        return f"{name}: larger than the upload limit of {limit:g} MB (--max-upload-mb)"

    def open_tracks(self) -> list[StudioTrack]:
        """The tracks opened so far, in order (a copy: an upload may be opening meanwhile)."""
        with self._lock:
            return list(self.tracks.values())

    def track(self, track_id: str) -> StudioTrack:
        track = self.tracks.get(track_id)
        if track is None:
            raise NotFoundError(f"no track {shown(track_id)}")
        return track

    def ready(self, track_id: str) -> StudioTrack:
        track = self.track(track_id)
        if track.stems is None:
            if track.job.state == "failed":
                raise NotReadyError(f"{track.name}: separation failed: {track.job.error}")
            raise NotReadyError(f"{track.name}: the stems are not separated yet")
        return track

    def stem_file(self, track_id: str, stem: str) -> Path:
        track = self.ready(track_id)
        if stem not in self.node.sources:
            raise NotFoundError(
                f"no stem {shown(stem)}; the model has: {', '.join(self.node.sources)}"
            )
        return track.stems / f"{stem}.wav"

    def peaks(self, track_id: str, buckets: int) -> dict[str, list]:
        if not 16 <= buckets <= 16384:
            raise InvalidValueError(f"buckets must be in [16, 16384], got {buckets}")
        track = self.ready(track_id)
        return {stem: peaks(track.stems, stem, buckets) for stem in self.node.sources}

    # -- presets -----------------------------------------------------------------------------

    def check_preset(self, data: Any, source: str = "studio preset") -> Preset:
        """Preset data from the page, checked by the preset schema, with the studio's model."""
        if not isinstance(data, dict):
            raise PresetError(f"{source}: expected a preset mapping, got {type(data).__name__}")
        data = {**data, "model": preset_to_dict(Preset(name="studio", model=self.model))["model"]}
        return parse_preset(data, source, sources=self.node.sources)

    def preset_data(self, preset: Preset) -> dict:
        return preset_to_dict(dataclasses.replace(preset, model=self.model, origin=""))

    def shipped_names(self) -> list[str]:
        """The shipped presets this studio's model can run: those naming only its stems (a
        preset for a six-stem model is not offered with a four-stem one)."""
        fitting = []
        for path in shipped_presets():
            try:
                load_preset_file(path, sources=self.node.sources)
            except PresetError:
                continue
            fitting.append(path.stem)
        return fitting

    def shipped(self, name: str) -> dict:
        """A shipped preset's data, checked against this studio's model (a preset naming stems
        the model lacks is refused, naming them)."""
        for path in shipped_presets():
            if path.stem == name:
                preset = load_preset_file(path, sources=self.node.sources)
                return self.preset_data(preset)
        known = ", ".join(path.stem for path in shipped_presets())
        raise NotFoundError(f"no shipped preset {shown(name)} (shipped: {known})")

    def parse(self, text: Any, name: Any) -> dict:
        """A preset file's text (read by the page from the user's disk), checked."""
        if not isinstance(text, str):
            raise PresetError("expected the preset file's text")
        source = safe_file_name(name) if isinstance(name, str) and name else "uploaded preset"
        data = parse_yaml(text, source)
        check_plain(data, source)
        return self.preset_data(self.check_preset(data, source))

    def save(self, data: Any, filename: Any) -> tuple[Path, str]:
        """Write the preset to ``out_dir/<filename>.yaml``; returns the path and the text."""
        stem = filename.removesuffix(".yaml") if isinstance(filename, str) else ""
        if not _PRESET_FILE.fullmatch(stem):
            raise InvalidValueError(
                f"preset file name {shown(filename)}: use letters, digits, '_', '-' and '.' "
                "(at most 64, starting with a letter or digit)"
            )
        preset = self.check_preset(data)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = save_preset(preset, self.out_dir / f"{stem}.yaml")
        return path, path.read_text(encoding="utf-8")

    # -- hearing and exporting ---------------------------------------------------------------

    def preview(
        self, track_id: str, data: Any, start: Any, end: Any, mode: Any
    ) -> tuple[list[str], np.ndarray, float]:
        """The loop region ``[start, end)`` (seconds) through the graph, from the cached stems.

        ``mode="stems"``: every stem through its own chain only (levels are the page's);
        ``mode="mix"``: the whole graph's mix. Returns the output names, float32
        ``[outputs, 2, n]`` and the sample rate.
        """
        track = self.ready(track_id)
        preset = self.check_preset(data)
        rate = track.info.sample_rate
        first, stop = self._region(track, start, end)
        if mode == "stems":
            preset = Preset(
                name=preset.name,
                model=self.model,
                stems={n: StemSettings(chain=s.chain) for n, s in preset.stems.items() if s.chain},
            )
            names = list(self.node.sources)
        elif mode == "mix":
            names = [MIX]
        else:
            raise InvalidValueError(f"mode must be 'stems' or 'mix', got {shown(mode)}")
        graph = build_graph(preset, separator=self.node)
        begin = max(0, first - round(PREROLL_SECONDS * rate))
        stems = read_stems(track.stems, self.node.sources, begin, stop)
        rendered = whole(graph.open_stream(rate, channels=2, separated=True), stems)
        out = np.stack([rendered[name] for name in names])[..., first - begin : stop - begin]
        return names, np.ascontiguousarray(out, dtype=np.float32), rate

    def _region(self, track: StudioTrack, start: Any, end: Any) -> tuple[int, int]:
        start, end = _seconds("start", start), _seconds("end", end)
        duration = track.info.duration
        if not 0 <= start < end <= duration + 1e-6:
            raise InvalidValueError(
                f"the region [{start:g}, {end:g}] s is not inside the track (0 to {duration:g} s)"
            )
        if end - start > MAX_PREVIEW_SECONDS:
            raise InvalidValueError(
                f"a preview is at most {MAX_PREVIEW_SECONDS:g} s; the region is {end - start:g} s"
            )
        rate = track.info.sample_rate
        first, stop = round(start * rate), min(track.info.frames, round(end * rate))
        if stop <= first:
            raise InvalidValueError(
                f"the region [{start:g}, {end:g}] s is shorter than one sample (1/{rate:g} s)"
            )
        return first, stop

    def export(self, track_id: str, data: Any) -> Job:
        """Render the track with the preset into ``out_dir``, as ``stemboard render`` does."""
        track = self.track(track_id)
        preset = self.check_preset(data)
        graph = build_graph(preset, separator=self.node)
        job = GraphRender(graph)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (planned,) = job.plan([track.path], self.out_dir, overwrite=True)

        def render(progress) -> list:
            written = job.run(planned, progress=progress)
            return [(str(name), path) for name, path in written.items()]

        return self.jobs.submit("export", render)

    def export_file(self, job_id: str, index: int) -> Path:
        job = self.jobs.get(job_id)
        if job is None or job.kind != "export":
            raise NotFoundError(f"no export {shown(job_id)}")
        if not 0 <= index < len(job.files):
            raise NotFoundError(f"export {job_id} has no file {index}")
        return job.files[index][1]

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {shown(job_id)}")
        return job
