"""Pretrained HDemucs weights: load a ``state_dict`` file safely, or fetch and verify a bundle.

``load_checkpoint`` turns every way a weights file can be unusable — missing, not a checkpoint,
truncated, pickled Python objects, the wrong architecture, NaNs — into one ``CheckpointError``
line naming the file. ``resolve_bundle`` finds a bundle's file where torchaudio caches it and
downloads it there if needed, trusting nothing whose size and sha256 differ from the record.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.request
from collections.abc import Mapping
from http.client import HTTPException
from pathlib import Path
from typing import BinaryIO
from urllib.error import HTTPError, URLError

import torch
import torchaudio

from stemboard.atomic import atomic_path
from stemboard.digest import sha256_file
from stemboard.errors import CheckpointError, CheckpointNotFoundError
from stemboard.registry import Architecture, Bundle, bundle_model_path

_CHUNK_BYTES = 1 << 20
_DOWNLOAD_TIMEOUT_S = 30

# torch.save writes a zip archive; the legacy format (and plain pickles) opens with PROTO 2..5.
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def load_checkpoint(
    path: str | os.PathLike, arch: Architecture
) -> tuple[torchaudio.models.HDemucs, str]:
    """Build ``arch`` and load the ``state_dict`` saved at ``path`` into it, in eval mode.

    >>> model, sha256 = load_checkpoint("hdemucs_high_trained.pt", architecture("high"))

    Returns the model and the file's sha256. Raises ``CheckpointError`` naming the file for
    anything that makes it unusable.
    """
    path = Path(path)
    state_dict = _state_dict(path, _read_torch_file(path))
    model = torchaudio.models.HDemucs(**arch.hdemucs_kwargs())
    _check_fits(path, state_dict, model.state_dict(), arch)
    _check_finite(path, state_dict)
    model.load_state_dict(state_dict, strict=True)
    return model.eval(), sha256_file(path)


def _read_torch_file(path: Path) -> object:
    if not path.exists():
        raise CheckpointNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    try:
        with open(path, "rb") as file:
            header = file.read(4)
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read: {error.strerror}") from None
    if not (header.startswith(_ZIP_MAGIC) or header[:2] in _PICKLE_PROTOCOLS):
        raise CheckpointError(f"{path}: not a torch.save checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        refused = re.search(r"GLOBAL (\S+)", str(error))
        if refused:
            raise CheckpointError(
                f"{path}: holds Python objects ({refused.group(1)}) rather than a state_dict; "
                "only state_dicts are loaded (save model.state_dict() instead)"
            ) from None
        raise CheckpointError(
            f"{path}: truncated or corrupt torch.save checkpoint ({type(error).__name__})"
        ) from None


def _state_dict(path: Path, loaded: object) -> Mapping[str, torch.Tensor]:
    if isinstance(loaded, Mapping) and list(loaded) == ["state_dict"]:
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise CheckpointError(
            f"{path}: holds a value of type {type(loaded).__name__}, not a state_dict "
            "(a mapping of parameter names to tensors)"
        )
    for key, value in loaded.items():
        if not isinstance(key, str):
            raise CheckpointError(f"{path}: not a state_dict: key {key!r} is not a string")
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{path}: not a state_dict: {key!r} is of type {type(value).__name__}, not a tensor"
            )
    return loaded


def _check_fits(
    path: Path,
    state_dict: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    arch: Architecture,
) -> None:
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    mismatched = [
        key
        for key in expected
        if key in state_dict and state_dict[key].shape != expected[key].shape
    ]
    if not (missing or unexpected or mismatched):
        return
    problems = [
        _count_with_examples("missing key", missing),
        _count_with_examples("unexpected key", unexpected),
    ]
    if mismatched:
        first = mismatched[0]
        problems.append(
            f"shapes differ in {len(mismatched)} of {len(expected)} tensors, first {first}: "
            f"checkpoint {list(state_dict[first].shape)} vs model {list(expected[first].shape)}"
        )
    raise CheckpointError(f"{path}: does not fit architecture {arch.name!r}: {'; '.join(problems)}")


def _count_with_examples(what: str, keys: list[str]) -> str:
    counted = f"{len(keys)} {what}{'' if len(keys) == 1 else 's'}"
    return f"{counted} (e.g. {', '.join(keys[:3])})" if keys else counted


def _check_finite(path: Path, state_dict: Mapping[str, torch.Tensor]) -> None:
    for key, tensor in state_dict.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: tensor {key} holds NaN or infinite values")


def resolve_bundle(
    bundle: Bundle,
    *,
    hub_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = False,
) -> Path:
    """The verified local file of ``bundle``, downloaded into torchaudio's cache if needed.

    >>> path = resolve_bundle(registry.bundle("hdemucs_high_musdb_plus"), progress=True)

    The file lives at ``<hub_dir>/torchaudio/<cache_key>`` (``hub_dir`` defaults to
    ``torch.hub.get_dir()``), where torchaudio's own pipeline looks for it. A file there is used
    only if its size and sha256 match the record. Otherwise, and if ``download`` is true, the
    file is fetched again and moved into place only once verified. Raises ``CheckpointError``
    saying what went wrong and where to put the file by hand.
    """
    destination = Path(hub_dir or torch.hub.get_dir()) / "torchaudio" / bundle.cache_key
    if destination.is_file():
        mismatch = _mismatch(destination, bundle)
        if mismatch is None:
            return destination
        if not download:
            raise CheckpointError(
                f"{destination} is not the official file: {mismatch}. "
                + _by_hand(bundle, destination)
            )
    elif not download:
        raise CheckpointError(
            f"weights {bundle.name!r} are not downloaded and downloading is off. "
            + _by_hand(bundle, destination)
        )
    _download(bundle, destination, progress)
    return destination


def _mismatch(path: Path, bundle: Bundle) -> str | None:
    size = path.stat().st_size
    if size != bundle.size:
        return f"it has {size:,} bytes, expected {bundle.size:,}"
    sha256 = sha256_file(path)
    if sha256 != bundle.sha256:
        return f"it has sha256 {sha256}, expected {bundle.sha256}"
    return None


def _by_hand(bundle: Bundle, destination: Path) -> str:
    """What a user without a download can do: place the official file, or export another
    weights file of the architecture into the model's place (commands that exist)."""
    made = bundle_model_path(bundle.name)
    return (
        f"Put the official file ({bundle.url}, {bundle.size:,} bytes, sha256 {bundle.sha256}) "
        f"at {destination}, or export a weights file of the same architecture into its place: "
        f"stemboard export --checkpoint FILE --config {bundle.architecture} --out {made}"
    )


def _download(bundle: Bundle, destination: Path, progress: bool) -> None:
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(destination) as part:
            with open(part, "wb") as file:
                size, sha256 = _fetch(bundle, file, progress)
            if size != bundle.size:
                raise CheckpointError(
                    f"downloaded {size:,} bytes, expected {bundle.size:,}. "
                    + _by_hand(bundle, destination)
                )
            if sha256 != bundle.sha256:
                raise CheckpointError(
                    f"downloaded file has sha256 {sha256}, expected {bundle.sha256}. "
                    + _by_hand(bundle, destination)
                )
    except (OSError, HTTPException) as error:
        raise CheckpointError(
            f"could not download {bundle.url}: {_reason(error)}. " + _by_hand(bundle, destination)
        ) from None


def _fetch(bundle: Bundle, file: BinaryIO, progress: bool) -> tuple[int, str]:
    """Stream ``bundle.url`` into ``file``; the number of bytes written and their sha256."""
    digest = hashlib.sha256()
    size = 0
    shown = -1
    try:
        with urllib.request.urlopen(bundle.url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            while block := response.read(_CHUNK_BYTES):
                file.write(block)
                digest.update(block)
                size += len(block)
                percent = 100 * size // bundle.size
                if progress and percent != shown:
                    print(f"\rdownloading {bundle.name}: {percent}%", end="", file=sys.stderr)
                    shown = percent
    finally:
        if shown >= 0:
            print(file=sys.stderr)
    return size, digest.hexdigest()


def _reason(error: Exception) -> object:
    """What went wrong, without urllib's ``<urlopen error ...>`` wrapping."""
    if isinstance(error, URLError) and not isinstance(error, HTTPError):
        return error.reason
    return error
