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
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

from stemboard.errors import InvalidValueError, ModelNotFoundError
from stemboard.model_format import ModelInfo, fp16_path_for, read_file_metadata
from stemboard.version import __version__

MUSDB_SOURCES: tuple[str, ...] = ("drums", "bass", "other", "vocals")
SIX_SOURCES: tuple[str, ...] = (*MUSDB_SOURCES, "guitar", "piano")
"""htdemucs_6s' stems, in its output order."""

DEFAULT_SEGMENT_SECONDS = 10.0
"""The segment an export bakes into its graph unless told otherwise (the shipped weight-free
graphs have it), for architectures that run at any length."""
MIN_SEGMENT_SECONDS = 0.5

TORCHAUDIO_HDEMUCS = "torchaudio.models.HDemucs"
DEMUCS_HTDEMUCS = "demucs.htdemucs.HTDemucs"
DEMUCS_HDEMUCS = "demucs.hdemucs.HDemucs"
FAMILIES = (TORCHAUDIO_HDEMUCS, DEMUCS_HTDEMUCS, DEMUCS_HDEMUCS)
"""The model classes stemboard exports, by the name their checkpoints give them."""

HTDEMUCS_OPTIONS: tuple[tuple[str, object], ...] = (
    ("bottom_channels", 512),
    ("dconv_mode", 3),
    ("multi_freqs", ()),
    ("t_dropout", 0.02),
    ("t_sparse_attn_window", 400),
)
"""What demucs' released htdemucs and htdemucs_ft models were built with besides the class
defaults: its ``conf/config.yaml`` ``htdemucs`` section as ``grids/mmi.py`` overrides it (dumps of
the released file's arguments and ports that load it agree; see docs/models.md)."""
HTDEMUCS_6S_OPTIONS: tuple[tuple[str, object], ...] = (("dconv_mode", 3), ("multi_freqs", ()))
"""htdemucs_6s': the same without the 512-channel bottom layers (27.4 M parameters, not 42 M)."""


@dataclass(frozen=True)
class Architecture:
    """A model layout stemboard can build: the class (``family``) and its constructor arguments.

    ``torchaudio.models.HDemucs`` takes ``sources, audio_channels, channels, nfft, depth``;
    demucs' classes take those (as ``samplerate``/``segment`` for the rate and training
    segment) and ``options``, the rest of the keyword arguments their checkpoints store. A
    ``bag`` is several models of this layout whose stems are averaged with per-source
    weights (demucs' ``BagOfModels``), one row of weights per model.
    """

    name: str
    description: str
    channels: int
    nfft: int = 4096
    depth: int = 6
    sources: tuple[str, ...] = MUSDB_SOURCES
    sample_rate: int = 44100
    audio_channels: int = 2
    weight_free: bool = False  # its graph ships inside the package, without weights
    family: str = TORCHAUDIO_HDEMUCS
    options: tuple[tuple[str, object], ...] = ()
    training_segment: Fraction | None = None  # seconds; HTDemucs runs at exactly that length
    bag: tuple[tuple[float, ...], ...] = ()

    def hdemucs_kwargs(self) -> dict:
        """Arguments for ``torchaudio.models.HDemucs``."""
        if self.family != TORCHAUDIO_HDEMUCS:
            raise InvalidValueError(f"{self.name} is a {self.family}, not a torchaudio HDemucs")
        return {
            "sources": list(self.sources),
            "audio_channels": self.audio_channels,
            "channels": self.channels,
            "nfft": self.nfft,
            "depth": self.depth,
        }

    def model_kwargs(self) -> dict:
        """The keyword arguments of ``family``'s constructor for one model of this layout."""
        if self.family == TORCHAUDIO_HDEMUCS:
            return self.hdemucs_kwargs()
        kwargs = {
            "sources": list(self.sources),
            "audio_channels": self.audio_channels,
            "channels": self.channels,
            "nfft": self.nfft,
            "depth": self.depth,
            "samplerate": self.sample_rate,
        }
        if self.training_segment is not None:
            kwargs["segment"] = self.training_segment
        kwargs.update(self.options)
        return kwargs

    @property
    def members(self) -> int:
        """How many models run: the bag's size, else 1."""
        return max(1, len(self.bag))

    @property
    def demucs(self) -> bool:
        """Whether the model classes come from the ``demucs`` package."""
        return self.family != TORCHAUDIO_HDEMUCS

    @property
    def hop_length(self) -> int:
        return self.nfft // 4

    def segment_samples(self, seconds: float | None = None) -> int:
        """The baked-in segment length in samples for ``seconds`` (None: the default).

        A model with a ``training_segment`` (HTDemucs) always runs at exactly that length:
        demucs pads a shorter input up to it and refuses a longer one, so any other length
        is refused here. The others take ``seconds`` (default :data:`DEFAULT_SEGMENT_SECONDS`)
        rounded to a whole number of ``2 * hop`` samples: HDemucs downsamples its time branch
        by ``hop`` and then by 2 more after the branches merge; a multiple of ``2 * hop``
        (2048 samples, 46 ms at nfft 4096) is divided evenly by every stride, so no layer
        pads the segment internally.
        """
        if self.training_segment is not None:
            fixed = int(self.training_segment * self.sample_rate)
            if seconds is not None and round(seconds * self.sample_rate) != fixed:
                raise InvalidValueError(
                    f"{self.name} runs at its training segment of "
                    f"{float(self.training_segment):g} s ({fixed} samples); leave --segment out"
                )
            return fixed
        if seconds is None:
            seconds = DEFAULT_SEGMENT_SECONDS
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
                **({"models": str(self.members)} if self.bag else {}),
                "version": __version__,
            },
        )


@dataclass(frozen=True)
class WeightFile:
    """One published weights file: where it is, where torch.hub keeps its own download of it,
    and how to know it is the right one."""

    name: str  # what messages call it
    url: str
    hub_path: str  # under torch.hub's folder: torchaudio's or demucs' download of the file
    size: int | None  # bytes; None where it is not published
    sha256: str = field(repr=False)  # the full sha256, or the prefix the official name carries
    mirror: str | None = None  # the same weights elsewhere (demucs' HuggingFace safetensors)

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def full_checksum(self) -> bool:
        """Whether :attr:`sha256` is the whole sha256 (else demucs' 8-digit prefix)."""
        return len(self.sha256) == 64


@dataclass(frozen=True)
class Bundle:
    """Pretrained weights for an architecture: one file, or one per model of a bag (in the
    bag's order), with the published quality where there is one."""

    name: str
    description: str
    architecture: str
    files: tuple[WeightFile, ...]
    download_mb: float = 0.0  # what fetching it downloads, about, where no size is published
    sdr_db: float | None = None  # published MUSDB18-HQ test SDR, mean over stems
    sdr_source: str = ""  # where that figure is published, or why there is none
    cost: float = 1.0  # CPU time per song relative to htdemucs (benchmarks/model_costs.py)

    @property
    def size(self) -> int | None:
        """Bytes to download, when every file's size is published."""
        sizes = [file.size for file in self.files]
        return None if None in sizes else sum(sizes)

    @property
    def size_mb(self) -> float:
        """What fetching it downloads, in MB: the published sizes, else about."""
        return self.download_mb if self.size is None else self.size / 1e6


_PAPER = (
    "Rouard, Massa, Defossez: Hybrid Transformers for Music Source Separation, ICASSP 2023 "
    "(arXiv:2211.08553)"
)

DEMUCS_URL = "https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/"
DEMUCS_MIRROR = "https://huggingface.co/adefossez/"


def _demucs_files(bundle: str, mirror_repo: str, *names: str) -> tuple[WeightFile, ...]:
    """demucs' released files ``<signature>-<sha256 prefix>.th`` of a bundle, as demucs 4.1.0
    fetches them: from its legacy repository (kept by torch.hub in ``checkpoints/``), the same
    weights as ``<signature>.safetensors`` on its HuggingFace mirror."""
    return tuple(
        WeightFile(
            bundle if len(names) == 1 else f"{bundle} model {index + 1} of {len(names)}",
            DEMUCS_URL + name,
            f"checkpoints/{name}",
            None,
            name.split("-", 1)[1].split(".", 1)[0],
            mirror=f"{DEMUCS_MIRROR}{mirror_repo}/resolve/main/{name.split('-', 1)[0]}.safetensors",
        )
        for index, name in enumerate(names)
    )


ONE_HOT_BAG = tuple(tuple(float(i == j) for j in range(4)) for i in range(4))
"""htdemucs_ft's weights: model ``i`` gives stem ``i`` only."""


def _demucs_architectures() -> tuple[Architecture, ...]:
    """demucs' released layouts and small copies of them (for tests and quick trials)."""
    htdemucs = Architecture(
        "htdemucs",
        "demucs v4 Hybrid Transformer Demucs (htdemucs): depth 4, 48 channels, a 5-layer "
        "cross-domain transformer 512 wide, 7.8 s segments, 42.0 M parameters",
        channels=48,
        depth=4,
        family=DEMUCS_HTDEMUCS,
        options=HTDEMUCS_OPTIONS,
        training_segment=Fraction(39, 5),
        weight_free=True,
    )
    htdemucs_tiny = replace(
        htdemucs,
        name="htdemucs_tiny",
        description="the htdemucs layout with 8 channels, 2 transformer layers and 2 s segments, "
        "for tests and quick trials",
        channels=8,
        options=(("bottom_channels", 32), ("dconv_mode", 3), ("t_layers", 2)),
        training_segment=Fraction(2),
        weight_free=False,
    )
    hdemucs_mmi = Architecture(
        "hdemucs_mmi",
        "demucs' Hybrid Demucs v3 (hdemucs_mmi's layout): depth 6, 48 channels, 83.6 M parameters",
        channels=48,
        depth=6,
        family=DEMUCS_HDEMUCS,
        options=(("segment", 40),),
        weight_free=True,
    )
    return (
        htdemucs,
        replace(
            htdemucs,
            name="htdemucs_6s",
            description="htdemucs with six stems (adds guitar and piano) and a 384-wide "
            "transformer, 27.4 M parameters",
            sources=SIX_SOURCES,
            options=HTDEMUCS_6S_OPTIONS,
        ),
        replace(
            htdemucs,
            name="htdemucs_ft",
            description="a bag of four htdemucs, each fine-tuned for one stem (4x the work)",
            bag=ONE_HOT_BAG,
        ),
        hdemucs_mmi,
        htdemucs_tiny,
        replace(
            htdemucs_tiny,
            name="htdemucs_6s_tiny",
            description="htdemucs_tiny with six stems (no bottom layers, as htdemucs_6s)",
            sources=SIX_SOURCES,
            options=(("dconv_mode", 3), ("t_layers", 2)),
        ),
        replace(
            htdemucs_tiny,
            name="htdemucs_ft_tiny",
            description="a bag of four htdemucs_tiny, one per stem",
            bag=ONE_HOT_BAG,
        ),
        replace(
            hdemucs_mmi,
            name="hdemucs_mmi_tiny",
            description="the hdemucs_mmi layout with 4 channels, for tests and quick trials",
            channels=4,
            weight_free=False,
        ),
    )


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
        *_demucs_architectures(),
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
            files=(
                WeightFile(
                    "hdemucs_high_musdb_plus",
                    "https://download.pytorch.org/torchaudio/models/hdemucs_high_trained.pt",
                    "torchaudio/models/hdemucs_high_trained.pt",
                    size=334_697_255,
                    sha256="a004b2790d73ffeaa535db458a1a79b539dfdbafbccc31f275d07e632ebd7816",
                ),
            ),
            sdr_source="none: trained on MUSDB18-HQ's test set too (torchaudio's documentation)",
            cost=0.5,
        ),
        Bundle(
            "htdemucs",
            "demucs v4's default: Hybrid Transformer Demucs trained on MUSDB18-HQ plus 800 songs",
            architecture="htdemucs",
            files=_demucs_files("htdemucs", "HTDemucs", "955717e8-8726e21a.th"),
            download_mb=84,
            sdr_db=8.80,
            sdr_source=f"{_PAPER}, HT Demucs trained with 800 extra songs",
            cost=1.0,
        ),
        Bundle(
            "htdemucs_ft",
            "htdemucs fine-tuned per stem: four models, one for each stem (4x slower)",
            architecture="htdemucs_ft",
            files=_demucs_files(
                "htdemucs_ft",
                "HTDemucs-ft",
                "f7e0c4bc-ba3fe64a.th",
                "d12395a8-e57c48e6.th",
                "92cfc3b6-ef3bcb9c.th",
                "04573f0d-f3cf25b2.th",
            ),
            download_mb=337,
            sdr_db=9.00,
            sdr_source=(
                "demucs' README: v4 'achieves a SDR of 9.00 dB on the MUSDB HQ test set' (it "
                "names no model; 9.20 dB with sparse attention and per-source fine-tuning)"
            ),
            cost=4.0,
        ),
        Bundle(
            "htdemucs_6s",
            "htdemucs with guitar and piano stems (demucs calls its piano stem experimental)",
            architecture="htdemucs_6s",
            files=_demucs_files("htdemucs_6s", "HTDemucs-6s", "5c90dfd2-34c22ccb.th"),
            download_mb=55,
            sdr_source="none published; demucs' README: guitar okay, piano 'not working great'",
            cost=0.9,
        ),
        Bundle(
            "hdemucs_mmi",
            "demucs' Hybrid Demucs v3 retrained on MUSDB18-HQ plus 800 songs",
            architecture="hdemucs_mmi",
            files=_demucs_files("hdemucs_mmi", "Demucs-hdemucs_mmi", "75fc33f5-1941ce65.th"),
            download_mb=167,
            sdr_db=8.34,
            sdr_source=f"{_PAPER}, Hybrid Demucs trained on the same data as HT Demucs",
            cost=0.5,
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
    """The one-file bundle whose official file has this checksum (or its recorded prefix)."""
    return next(
        (b for b in BUNDLES.values() if len(b.files) == 1 and sha256.startswith(b.files[0].sha256)),
        None,
    )


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


def torch_hub_copy(file: WeightFile) -> Path:
    """Where torchaudio or demucs (through torch.hub) keeps its own download of ``file`` (it
    may not be there)."""
    return torch_hub_dir() / file.hub_path


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
