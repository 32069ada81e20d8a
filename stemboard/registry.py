"""The one registry of model architectures and pretrained weight bundles stemboard knows by name,
and where their exported files live.

Records only: nothing here imports torch or onnxruntime, so the runtime can look names up too.
Adding a model is adding a record. :func:`model_path` turns what a user calls a model (a path,
or a known name) into the ONNX file on disk without making anything; making a missing bundle's
file is :func:`stemboard.models.ensure_model`'s job (or ``stemboard export``'s).
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from stemboard.errors import InvalidValueError, ModelNotFoundError
from stemboard.model_format import ModelInfo, fp16_path_for, read_file_metadata
from stemboard.version import __version__

MUSDB_SOURCES: tuple[str, ...] = ("drums", "bass", "other", "vocals")

DEFAULT_SEGMENT_SECONDS = 10.0
"""The segment an export bakes into its graph unless told otherwise (the shipped weight-free
graphs have it)."""
MIN_SEGMENT_SECONDS = 0.5


@dataclass(frozen=True)
class Architecture:
    """A torchaudio ``HDemucs`` configuration: the keyword arguments that build it."""

    name: str
    description: str
    channels: int
    nfft: int = 4096
    depth: int = 6
    sources: tuple[str, ...] = MUSDB_SOURCES
    sample_rate: int = 44100
    audio_channels: int = 2
    weight_free: bool = False  # its graph ships inside the package, without weights

    def hdemucs_kwargs(self) -> dict:
        """Arguments for ``torchaudio.models.HDemucs``."""
        return {
            "sources": list(self.sources),
            "audio_channels": self.audio_channels,
            "channels": self.channels,
            "nfft": self.nfft,
            "depth": self.depth,
        }

    @property
    def hop_length(self) -> int:
        return self.nfft // 4

    def segment_samples(self, seconds: float) -> int:
        """The baked-in segment length: ``seconds`` rounded to a whole number of ``2 * hop``
        samples.

        HDemucs downsamples its time branch by ``hop`` and then by 2 more after the branches
        merge; a multiple of ``2 * hop`` (2048 samples, 46 ms at nfft 4096) is divided evenly
        by every stride, so no layer pads the segment internally.
        """
        if not math.isfinite(seconds) or seconds < MIN_SEGMENT_SECONDS:
            raise InvalidValueError(
                f"--segment must be at least {MIN_SEGMENT_SECONDS} seconds, got {seconds}"
            )
        quantum = 2 * self.hop_length
        return max(1, round(seconds * self.sample_rate / quantum)) * quantum

    def model_info(
        self,
        segment_samples: int,
        *,
        model: str,
        weights_sha256: str,
        origin: str,
        precision: str = "float32",
    ) -> ModelInfo:
        """What a graph of this architecture declares (its metadata), for weights called
        ``model`` whose file has ``weights_sha256`` and came from ``origin``."""
        return ModelInfo(
            sources=self.sources,
            sample_rate=self.sample_rate,
            segment_samples=segment_samples,
            model=model,
            weights_sha256=weights_sha256,
            audio_channels=self.audio_channels,
            precision=precision,
            extra={
                "architecture": self.name,
                "weights": origin,
                "nfft": str(self.nfft),
                "version": __version__,
            },
        )


@dataclass(frozen=True)
class Bundle:
    """Pretrained weights published as a ``torch.save``'d ``state_dict`` for an architecture."""

    name: str
    description: str
    architecture: str
    url: str
    cache_key: str  # path under torch.hub's "<hub dir>/torchaudio", as torchaudio stores it
    size: int
    sha256: str = field(repr=False)


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture(
            "high",
            "torchaudio's hdemucs_high: nfft 4096, depth 6, 48 channels, ~83.6 M parameters",
            channels=48,
            weight_free=True,
        ),
        Architecture(
            "small",
            "the high layout with 8 channels (~2.3 M parameters)",
            channels=8,
        ),
        Architecture(
            "tiny",
            "the high layout with 4 channels (~0.6 M parameters), for tests and quick trials",
            channels=4,
        ),
    )
}


@dataclass(frozen=True)
class Packaged:
    """An exported ONNX model shipped inside the stemboard package: no download, no torch."""

    name: str
    description: str
    architecture: str
    resource: str  # file name under ``stemboard/models``


PACKAGED: dict[str, Packaged] = {
    packaged.name: packaged
    for packaged in (
        Packaged(
            "demo",
            "stemboard's demo separator: the small architecture trained on synthetic songs "
            "(stemboard.synth); for demonstrations and tests, not for real music",
            architecture="small",
            resource="demo.onnx",
        ),
    )
}

BUNDLES: dict[str, Bundle] = {
    bundle.name: bundle
    for bundle in (
        Bundle(
            "hdemucs_high_musdb_plus",
            "torchaudio's HDEMUCS_HIGH_MUSDB_PLUS: trained on MUSDB18-HQ plus 150 extra songs",
            architecture="high",
            url="https://download.pytorch.org/torchaudio/models/hdemucs_high_trained.pt",
            cache_key="models/hdemucs_high_trained.pt",
            size=334_697_255,
            sha256="a004b2790d73ffeaa535db458a1a79b539dfdbafbccc31f275d07e632ebd7816",
        ),
    )
}


def _lookup(kind: str, name: str, table: dict):
    try:
        return table[name]
    except KeyError:
        close = difflib.get_close_matches(name, table, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InvalidValueError(
            f"unknown {kind} {name!r}{hint}; known: {', '.join(sorted(table))}"
        ) from None


def architecture(name: str) -> Architecture:
    """The architecture record called ``name``; a clear error listing the known ones otherwise."""
    return _lookup("model configuration", name, ARCHITECTURES)


def bundle(name: str) -> Bundle:
    """The bundle record called ``name``; a clear error listing the known ones otherwise."""
    return _lookup("bundle", name, BUNDLES)


def packaged(name: str) -> Packaged:
    """The packaged model called ``name``; a clear error listing the known ones otherwise."""
    return _lookup("packaged model", name, PACKAGED)


def bundle_for_sha256(sha256: str) -> Bundle | None:
    """The bundle whose official file has this checksum, if any."""
    return next((b for b in BUNDLES.values() if b.sha256 == sha256), None)


CACHE_ENV = "STEMBOARD_CACHE"


def cache_dir() -> Path:
    """Where stemboard keeps what it makes or fetches (exported models, downloaded weights):
    ``$STEMBOARD_CACHE``, else ``$XDG_CACHE_HOME/stemboard`` when that is set and absolute (the
    XDG rule: a relative one is ignored), else ``~/.cache/stemboard``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "stemboard"
    return Path.home() / ".cache" / "stemboard"


def torch_hub_dir() -> Path:
    """torch.hub's folder, found as ``torch.hub.get_dir()`` finds it but without torch:
    ``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``, ``~``
    expanded (a folder set in-process with ``torch.hub.set_dir`` is torch's alone to know)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    torch_home = os.environ.get("TORCH_HOME", os.path.join(xdg, "torch"))
    return Path(os.path.expanduser(torch_home)) / "hub"


def torchaudio_copy(bundle: Bundle) -> Path:
    """Where torchaudio keeps its own download of ``bundle``'s file (it may not be there)."""
    return torch_hub_dir() / "torchaudio" / bundle.cache_key


def packaged_model_path(name: str) -> Path:
    """Where the packaged model ``name`` lies inside the installed package."""
    return Path(__file__).resolve().parent / "models" / packaged(name).resource


def bundle_model_path(name: str) -> Path:
    """Where the exported file of bundle ``name`` lies once made: in :func:`cache_dir`."""
    return cache_dir() / f"{bundle(name).name}.onnx"


def export_command(name: str, path: Path, fp16: bool = False) -> str:
    """The command that makes the exported file of bundle ``name`` at ``path`` with torch."""
    return f"stemboard export --bundle {name} --out {path}" + (" --fp16" if fp16 else "")


def make_command(name: str, fp16: bool = False) -> str:
    """The command that makes bundle ``name``'s model file in the cache: fetched and bound
    where stemboard ships its architecture's graph, exported with torch otherwise."""
    if architecture(bundle(name).architecture).weight_free:
        return f"stemboard models fetch {name}" + (" --fp16" if fp16 else "")
    return export_command(name, bundle_model_path(name), fp16) + " (needs stemboard[export])"


def model_path(model: str | os.PathLike, *, fp16: bool = False) -> Path:
    """The ONNX file for ``model`` (a path, or a name in the registry); nothing is made.

    With ``fp16`` the float16 variant beside it (``<name>.fp16.onnx``). Raises
    :class:`~stemboard.errors.ModelNotFoundError` (a ``FileNotFoundError``) when the file is
    not there — for a bundle, naming the command that makes it — and ``ValueError`` for a name
    that is neither a known model nor an ``.onnx`` path.
    """
    text = os.fspath(model)
    if text in PACKAGED:
        if fp16:
            raise InvalidValueError(
                f"the packaged model {text!r} has no fp16 variant; use precision fp32 or auto"
            )
        path = packaged_model_path(text)
        if not path.is_file():
            raise ModelNotFoundError(
                f"the packaged model {text!r} is missing from this installation ({path}); "
                "reinstall stemboard"
            )
        return path
    if text in BUNDLES:
        path = bundle_model_path(text)
        wanted = fp16_path_for(path) if fp16 else path
        if not wanted.is_file():
            raise ModelNotFoundError(
                f"model {text!r} is not here yet ({wanted} is missing): run "
                f"`{make_command(text, fp16)}`, or use the packaged demo model (--model demo)"
            )
        return wanted
    path = Path(text)
    if path.suffix != ".onnx" and not path.exists():
        known = ", ".join(sorted([*PACKAGED, *BUNDLES]))
        raise InvalidValueError(f"unknown model {text!r}: give a .onnx file or one of: {known}")
    if fp16:
        path = fp16_path_for(path)
        if not path.is_file():
            raise ModelNotFoundError(
                f"fp16 was asked for but {path} does not exist "
                f"(export with: stemboard export ... --fp16 --out {Path(text)})"
            )
    if not path.is_file():
        raise ModelNotFoundError(f"model file {path} does not exist")
    return path


def known_sources(model: str | os.PathLike) -> tuple[str, ...] | None:
    """The stem names of a known model, from its record (no file opened); None for a path."""
    text = os.fspath(model)
    if text in PACKAGED:
        return architecture(PACKAGED[text].architecture).sources
    if text in BUNDLES:
        return architecture(BUNDLES[text].architecture).sources
    return None


def model_sources(model: str | os.PathLike) -> tuple[str, ...]:
    """The stem names of ``model``: a known one's from its record, a file's from its metadata
    (the model is not loaded)."""
    known = known_sources(model)
    if known is not None:
        return known
    path = model_path(model)
    return ModelInfo.from_metadata(read_file_metadata(path), str(path)).sources
