"""The one registry of model architectures and pretrained weight bundles stemboard knows by name,
and where their exported files live.

Records only: nothing here imports torch or onnxruntime, so the runtime can look names up too.
Adding a model is adding a record. :func:`model_path` turns what a user calls a model (a path,
or a known name) into the ONNX file on disk without making anything; making a missing bundle's
file is :func:`stemboard.models.ensure_model`'s job (or ``stemboard export``'s).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from stemboard.errors import InvalidValueError, ModelNotFoundError
from stemboard.model_format import ModelInfo, fp16_path_for, read_file_metadata

MUSDB_SOURCES: tuple[str, ...] = ("drums", "bass", "other", "vocals")


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
    """Where exported known models live: ``$STEMBOARD_CACHE`` or ``~/.cache/stemboard``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "stemboard"


def packaged_model_path(name: str) -> Path:
    """Where the packaged model ``name`` lies inside the installed package."""
    return Path(__file__).resolve().parent / "models" / packaged(name).resource


def bundle_model_path(name: str) -> Path:
    """Where the exported file of bundle ``name`` lies once made: in :func:`cache_dir`."""
    return cache_dir() / f"{bundle(name).name}.onnx"


def export_command(name: str, path: Path, fp16: bool = False) -> str:
    """The command that makes the exported file of bundle ``name`` at ``path``."""
    return f"stemboard export --bundle {name} --out {path}" + (" --fp16" if fp16 else "")


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
                f"model {text!r} has not been exported yet ({wanted} is missing): run "
                f"`{export_command(text, path, fp16)}` (needs pip install 'stemboard[export]'), "
                "or use the packaged demo model (--model demo)"
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
