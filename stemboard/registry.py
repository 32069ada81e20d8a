"""The one registry of model architectures and pretrained weight bundles stemboard knows by name.

Records only: nothing here imports torch, so the runtime can look names up too. Adding a model
is adding a record.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from stemboard.errors import StemboardError

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
        raise StemboardError(
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
