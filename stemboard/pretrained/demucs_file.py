"""demucs' model files, read without torch and without running anything in them.

demucs saves a model as a package: ``{"klass": <its class>, "args": (), "kwargs": {...}, "state":
{name: tensor}, "training_args": {...}}`` — a ``torch.save`` pickle (``<sig>-<sha8>.th``, the
state in float16 in the released files) or, on its HuggingFace mirror, a ``.safetensors`` file
whose metadata holds the class name and the arguments as JSON. Either way this module returns a
:class:`DemucsPackage`: the class by name, the constructor's keyword arguments as plain data
(``Fraction`` kept exact), and the state as float32 numpy arrays (float16 widens exactly, as
``load_state_dict`` does). The class is never imported: it is a name checked against
:data:`~stemboard.registry.FAMILIES`, and the training arguments are read as inert data.

:func:`architecture_of` turns a package into the :class:`~stemboard.registry.Architecture` it
describes: the registry's record when the arguments are one of demucs' released layouts, else
a record made from the file.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from stemboard.errors import CheckpointError, CheckpointNotFoundError
from stemboard.pretrained.torch_file import Call, GlobalRef, read_torch_file, state_dict_from
from stemboard.registry import (
    ARCHITECTURES,
    DEMUCS_HDEMUCS,
    DEMUCS_HTDEMUCS,
    FAMILIES,
    TORCHAUDIO_HDEMUCS,
    Architecture,
)

DEMUCS_CLASSES = (DEMUCS_HTDEMUCS, DEMUCS_HDEMUCS, "demucs.demucs.Demucs", "demucs.wdemucs.Demucs")
"""Every model class a demucs package may name (the last two are demucs v2, not supported)."""

_INERT = frozenset(
    {*DEMUCS_CLASSES, "fractions.Fraction", "builtins.set", "builtins.frozenset",
     # the evaluation metrics demucs stores beside the model are numpy scalars, whose bytes
     # a protocol-2 pickle (torch.save's) writes as a call of _codecs.encode
     "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
     "_codecs.encode"}
)  # fmt: skip

FAMILY_DEFAULTS: dict[str, dict[str, object]] = {
    DEMUCS_HTDEMUCS: {
        "audio_channels": 2, "channels": 48, "channels_time": None, "growth": 2, "nfft": 4096,
        "wiener_iters": 0, "end_iters": 0, "wiener_residual": False, "cac": True, "depth": 4,
        "rewrite": True, "multi_freqs": None, "multi_freqs_depth": 3, "freq_emb": 0.2,
        "emb_scale": 10, "emb_smooth": True, "kernel_size": 8, "time_stride": 2, "stride": 4,
        "context": 1, "context_enc": 0, "norm_starts": 4, "norm_groups": 4, "dconv_mode": 1,
        "dconv_depth": 2, "dconv_comp": 8, "dconv_init": 0.001, "bottom_channels": 0,
        "t_layers": 5, "t_emb": "sin", "t_hidden_scale": 4.0, "t_heads": 8, "t_dropout": 0.0,
        "t_max_positions": 10000, "t_norm_in": True, "t_norm_in_group": False,
        "t_group_norm": False, "t_norm_first": True, "t_norm_out": True, "t_max_period": 10000.0,
        "t_weight_decay": 0.0, "t_lr": None, "t_layer_scale": True, "t_gelu": True,
        "t_weight_pos_embed": 1.0, "t_sin_random_shift": 0, "t_cape_mean_normalize": True,
        "t_cape_augment": True, "t_cape_glob_loc_scale": [5000.0, 1.0, 1.4],
        "t_sparse_self_attn": False, "t_sparse_cross_attn": False, "t_mask_type": "diag",
        "t_mask_random_seed": 42, "t_sparse_attn_window": 500, "t_global_window": 100,
        "t_sparsity": 0.95, "t_auto_sparsity": False, "t_cross_first": False, "rescale": 0.1,
        "samplerate": 44100, "segment": 10, "use_train_segment": True,
    },
    DEMUCS_HDEMUCS: {
        "audio_channels": 2, "channels": 48, "channels_time": None, "growth": 2, "nfft": 4096,
        "wiener_iters": 0, "end_iters": 0, "wiener_residual": False, "cac": True, "depth": 6,
        "rewrite": True, "hybrid": True, "hybrid_old": False, "multi_freqs": None,
        "multi_freqs_depth": 2, "freq_emb": 0.2, "emb_scale": 10, "emb_smooth": True,
        "kernel_size": 8, "time_stride": 2, "stride": 4, "context": 1, "context_enc": 0,
        "norm_starts": 4, "norm_groups": 4, "dconv_mode": 1, "dconv_depth": 2, "dconv_comp": 4,
        "dconv_attn": 4, "dconv_lstm": 4, "dconv_init": 0.0001, "rescale": 0.1,
        "samplerate": 44100, "segment": 40,
    },
}  # fmt: skip
"""The constructor defaults of demucs 4.1.0's two classes (a test checks them against the
installed demucs): a file's arguments are compared with a record's with these filled in."""

TRAINING_ONLY = frozenset(
    {"t_dropout", "t_weight_decay", "t_lr", "rescale", "dconv_init", "emb_scale", "emb_smooth",
     "end_iters", "t_cape_augment", "t_mask_random_seed"}
)  # fmt: skip
"""Arguments that change how a model trains or is initialised, never what it computes once its
weights are loaded (dropout is off in eval mode; the scale, init and smoothing arguments only
set initial values that the checkpoint's weights replace)."""

_SPARSE_ONLY = ("t_mask_type", "t_sparse_attn_window", "t_global_window", "t_sparsity",
                "t_auto_sparsity")  # fmt: skip


@dataclass
class DemucsPackage:
    """What a demucs model file holds, as data."""

    family: str  # the class's dotted name, one of FAMILIES
    kwargs: dict[str, object]
    state: dict[str, np.ndarray]  # float32
    path: Path


def is_demucs_file(loaded: object) -> bool:
    """Whether what :func:`read_torch_file` returned is a demucs package."""
    return isinstance(loaded, Mapping) and {"klass", "kwargs", "state"} <= set(loaded)


def read_demucs_file(path: str | os.PathLike) -> DemucsPackage:
    """The package in the demucs model file at ``path`` (``.th`` or ``.safetensors``)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    return package_from(read_torch_file(path, inert_globals=_INERT), path)


def read_any_checkpoint(path: str | os.PathLike) -> DemucsPackage | dict[str, np.ndarray]:
    """A demucs package, or the plain ``state_dict`` a ``torch.save`` file holds."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    loaded = read_torch_file(path, inert_globals=_INERT)
    if is_demucs_file(loaded):
        return package_from(loaded, path)
    return state_dict_from(loaded, path)


def package_from(loaded: object, path: Path) -> DemucsPackage:
    """The :class:`DemucsPackage` in a demucs ``.th`` file's unpickled content."""
    if not is_demucs_file(loaded):
        raise CheckpointError(f"{path}: not a demucs model file (no klass, kwargs and state)")
    klass = loaded["klass"]
    if not isinstance(klass, GlobalRef):
        raise CheckpointError(f"{path}: its klass is not a class name")
    family = f"{klass.module}.{klass.name}"
    args = loaded.get("args", ())
    if args not in ((), []):
        raise CheckpointError(f"{path}: {family} with positional arguments is not a demucs model")
    state = loaded["state"]
    if isinstance(state, Mapping) and state.get("__quantized"):
        raise CheckpointError(
            f"{path}: a diffq-quantized demucs model (mdx_q, mdx_extra_q); stemboard reads "
            "float models only"
        )
    return _package(family, _plain(loaded["kwargs"], path), state_dict_from(state, path), path)


def _package(family: str, kwargs: object, state: dict[str, np.ndarray], path: Path):
    if family not in FAMILIES or family == TORCHAUDIO_HDEMUCS:
        raise CheckpointError(
            f"{path}: a {family} model; stemboard exports demucs' HTDemucs (v4) and HDemucs (v3)"
        )
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise CheckpointError(f"{path}: its kwargs are not a mapping of argument names")
    widened = {
        key: value.astype(np.float32) if value.dtype in (np.float16, np.float64) else value
        for key, value in state.items()
    }
    return DemucsPackage(family, kwargs, widened, path)


def _plain(value: object, path: Path) -> object:
    """``value`` with every inert record made plain data: a Fraction from its recorded
    arguments (the only call a demucs argument holds), sets as lists."""
    if isinstance(value, Call):
        ref = f"{value.ref.module}.{value.ref.name}"
        if ref == "fractions.Fraction" and all(isinstance(arg, (int, str)) for arg in value.args):
            try:
                return Fraction(*value.args)
            except (ValueError, TypeError, ZeroDivisionError):
                pass
        elif ref in ("builtins.set", "builtins.frozenset") and value.args:
            return _plain(list(value.args[0]), path)
        raise CheckpointError(f"{path}: an argument holds a {ref} value stemboard cannot read")
    if isinstance(value, GlobalRef):
        raise CheckpointError(f"{path}: an argument names {value.module}.{value.name}")
    if isinstance(value, dict):
        return {key: _plain(item, path) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, path) for item in value]
    return value


_SAFETENSORS_TYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "BF16": "<u2", "I64": "<i8"}
_HEADER_LIMIT = 100_000_000


def _read_safetensors(path: Path) -> DemucsPackage:
    """A demucs model from its HuggingFace mirror: safetensors, the class and arguments in the
    metadata as JSON (fractions as ``{"_type": "fraction", ...}``)."""
    if not path.is_file():
        raise CheckpointNotFoundError(f"{path}: no such file")
    try:
        with open(path, "rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            if length > _HEADER_LIMIT:
                raise ValueError(f"a header of {length} bytes")
            header = json.loads(file.read(length))
            base = 8 + length
            metadata = header.pop("__metadata__", None) or {}
            family = metadata["klass"]
            kwargs = _decode_json(json.loads(metadata["kwargs"]))
            if "structure" in metadata:
                raise CheckpointError(f"{path}: a quantized demucs model; stemboard reads floats")
            size = path.stat().st_size
            state = {}
            for name, entry in header.items():
                start, end = entry["data_offsets"]
                dtype = np.dtype(_SAFETENSORS_TYPES[entry["dtype"]])
                shape = tuple(entry["shape"])
                if not 0 <= start <= end <= size - base or end - start != dtype.itemsize * int(
                    np.prod(shape, dtype=np.int64)
                ):
                    raise ValueError(f"tensor {name!r} lies outside the file")
                file.seek(base + start)
                array = np.frombuffer(file.read(end - start), dtype).reshape(shape)
                if entry["dtype"] == "BF16":
                    array = (array.astype(np.uint32) << 16).view(np.float32)
                state[name] = array.astype(np.float32 if array.dtype.kind == "f" else array.dtype)
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError, struct.error) as error:
        raise CheckpointError(f"{path}: not a readable demucs safetensors file ({error})") from None
    return _package(family, kwargs, state, path)


def _decode_json(value: object) -> object:
    if isinstance(value, dict):
        if value.get("_type") == "fraction":
            return Fraction(int(value["numerator"]), int(value["denominator"]))
        return {key: _decode_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode_json(item) for item in value]
    return value


def constructor_arguments(family: str, kwargs: Mapping[str, object]) -> dict[str, object]:
    """``kwargs`` of ``family``'s constructor with its defaults filled in and only what decides
    the function computed kept: two layouts compute the same exactly when these agree. An
    argument the constructor does not take is dropped, as demucs' ``load_model`` drops it."""
    defaults = FAMILY_DEFAULTS.get(family, {})
    full = {**defaults, **kwargs}
    if defaults:
        full = {key: value for key, value in full.items() if key in defaults or key == "sources"}
    if not full.get("t_sparse_self_attn") and not full.get("t_sparse_cross_attn"):
        full = {key: value for key, value in full.items() if key not in _SPARSE_ONLY}
    if full.get("multi_freqs") is None and "multi_freqs" in full:
        full["multi_freqs"] = []
    for key, value in full.items():
        if isinstance(value, tuple):
            full[key] = list(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            full[key] = Fraction(value).limit_denominator(10**9) if key == "segment" else value
    return {key: value for key, value in full.items() if key not in TRAINING_ONLY}


def architecture_of(package: DemucsPackage) -> Architecture:
    """The layout ``package`` describes: a registry record when its arguments agree with one
    (:func:`constructor_arguments`), else a record named after the file."""
    made = _architecture_from(package)
    wanted = constructor_arguments(made.family, made.model_kwargs())
    for arch in ARCHITECTURES.values():
        if (
            arch.family == made.family
            and not arch.bag
            and constructor_arguments(arch.family, arch.model_kwargs()) == wanted
        ):
            return arch
    return made


def _frozen(value: object) -> object:
    """``value`` with its lists made tuples: an architecture is hashable."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(item) for item in value)
    return value


def _architecture_from(package: DemucsPackage) -> Architecture:
    kwargs = {**FAMILY_DEFAULTS[package.family], **package.kwargs}
    try:
        sources = tuple(str(name) for name in kwargs.pop("sources"))
        fields = {
            "channels": int(kwargs.pop("channels")),
            "nfft": int(kwargs.pop("nfft")),
            "depth": int(kwargs.pop("depth")),
            "audio_channels": int(kwargs.pop("audio_channels")),
            "sample_rate": int(kwargs.pop("samplerate")),
        }
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{package.path}: unusable model arguments ({error})") from None
    training_segment = None
    if package.family == DEMUCS_HTDEMUCS:
        segment = kwargs.pop("segment")
        if kwargs.get("use_train_segment", True):
            training_segment = Fraction(segment)
        else:
            kwargs["segment"] = segment
    options = tuple(sorted((key, _frozen(value)) for key, value in kwargs.items()))
    return Architecture(
        package.path.stem,
        f"{package.family.rsplit('.', 1)[1]} read from {package.path.name}",
        sources=sources,
        family=package.family,
        options=options,
        training_segment=training_segment,
        **fields,
    )
