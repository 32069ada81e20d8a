"""Output formats and the file writer: block by block, whole or not at all, never NaN, never
silently clipped.

Example::

    with AudioWriter("out/vocals.flac", 44100, channels=2, bit_depth=24) as out:
        for block in blocks:
            out.write(block)                     # float32 [2, n]

Lengths: WAV, FLAC and OGG files hold exactly the samples written. MP3 files decode 1,152
samples longer (and some encoders' delay earlier): the encoder pads the stream and pedalboard
writes no gapless-playback header, so the padding cannot be removed; use another format where
sample-exact length matters.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
from pedalboard.io import AudioFile, get_supported_write_formats

from stemboard.atomic import AtomicFiles, temporary_name
from stemboard.audio.layout import as_planar_float32, first_non_finite
from stemboard.audio.reading import PEDALBOARD_ERRORS, display, one_line, utf8_name
from stemboard.audio.resampling import check_rate
from stemboard.choices import BIT_DEPTHS, CLIP_MODES, DEFAULT_CLIP_MODE
from stemboard.errors import DestinationError, DiskFullError, InvalidValueError


class ClippingWarning(UserWarning):
    """An output file had samples beyond full scale: rescaled, clamped or clipped (see
    :data:`stemboard.choices.CLIP_MODES`)."""


@dataclass(frozen=True)
class _Codec:
    """How stemboard writes one output format: its largest bit depth and default quality.

    ``max_bit_depth`` is None where bit depth does not apply (lossy codecs take a quality).
    """

    max_bit_depth: int | None
    default_quality: str | None


_CODECS = {
    # 16/24-bit integer or 32-bit float PCM.
    "wav": _Codec(max_bit_depth=32, default_quality=None),
    # pedalboard's FLAC encoder writes 16 or 24 bits; 32 is written as 24.
    "flac": _Codec(max_bit_depth=24, default_quality=None),
    # The highest bitrate both lossy encoders accept.
    "ogg": _Codec(max_bit_depth=None, default_quality="320 kbps"),
    "mp3": _Codec(max_bit_depth=None, default_quality="320 kbps"),
}

SUPPORTED_FORMATS: tuple[str, ...] = tuple(
    name for name in _CODECS if f".{name}" in get_supported_write_formats()
)
"""Output formats stemboard writes: those of wav, flac, ogg, mp3 that pedalboard writes here."""

SUPPORTED_BIT_DEPTHS = BIT_DEPTHS

_RESCALE_HEADROOM = 1.01  # demucs: the peak ends at 1 / 1.01 of full scale


def format_name(format: str) -> str:
    """``".FLAC"`` -> ``"flac"``."""
    return format.lower().removeprefix(".")


def check_output_format(format: str, bit_depth: int) -> None:
    """Raise ``ValueError`` (:class:`~stemboard.errors.InvalidValueError`) unless stemboard can
    write ``format`` at ``bit_depth``.

    ``format`` is a name or suffix, any case (``"wav"``, ``".FLAC"``). Bit depths are 16, 24
    and 32: WAV writes 32 as float, FLAC as 24-bit (the most pedalboard's FLAC encoder takes);
    OGG and MP3 accept any of them and ignore it (they take a quality instead).
    """
    if not isinstance(format, str) or format_name(format) not in SUPPORTED_FORMATS:
        raise InvalidValueError(
            f"unknown output format {format!r}; supported formats: {', '.join(SUPPORTED_FORMATS)}"
        )
    if isinstance(bit_depth, bool) or bit_depth not in SUPPORTED_BIT_DEPTHS:
        depths = ", ".join(str(d) for d in SUPPORTED_BIT_DEPTHS)
        raise InvalidValueError(
            f"unsupported bit depth {bit_depth!r}; supported bit depths: {depths} "
            "(32 is float for wav, 24-bit for flac; ogg and mp3 ignore it)"
        )


def check_clip_mode(clip_mode: str) -> str:
    """``clip_mode`` if it is one of :data:`~stemboard.choices.CLIP_MODES`; else ``ValueError``."""
    if clip_mode not in CLIP_MODES:
        raise InvalidValueError(
            f"unknown clip mode {clip_mode!r}; choose one of: {', '.join(CLIP_MODES)}"
        )
    return clip_mode


def holds_beyond_full_scale(format: str, bit_depth: int) -> bool:
    """Whether the format stores samples beyond [-1, 1] as they are (only 32-bit float WAV)."""
    return format_name(format) == "wav" and bit_depth == 32


class AudioWriter:
    """Write an audio file in blocks, so that it appears whole or not at all.

    The audio goes to a hidden temporary file next to ``path`` (same suffix, so pedalboard picks
    the codec), which replaces ``path`` only when the ``with`` block ends without an exception.
    On an exception (Ctrl-C included), or after :meth:`abort`, the temporary files are removed
    and ``path`` is untouched. With ``files`` (an :class:`~stemboard.atomic.AtomicFiles`) the
    finished file waits there and is renamed when the group commits, together with the others.

    ``format`` defaults to the suffix of ``path``; ``bit_depth`` applies to WAV (16, 24, or 32
    for float) and FLAC (16 or 24; 32 writes 24). OGG and MP3 ignore it and take ``quality``
    (a pedalboard quality string such as ``"192 kbps"`` or, for MP3, ``"V0"``; default
    ``"320 kbps"``).

    Samples beyond full scale are handled by ``clip_mode`` (see
    :data:`~stemboard.choices.CLIP_MODES`) and reported with a :class:`ClippingWarning`. For
    ``rescale`` the samples are kept as raw float32 in a second temporary file until the peak
    is known, then encoded. A NaN or infinite sample is an ``InvalidValueError`` raised by
    :meth:`write`: nothing is written.

    An unknown format, bit depth or clip mode is an ``InvalidValueError`` raised here, before
    anything is written.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: float,
        channels: int,
        format: str | None = None,
        bit_depth: int = 16,
        quality: str | None = None,
        *,
        clip_mode: str = DEFAULT_CLIP_MODE,
        files: AtomicFiles | None = None,
    ) -> None:
        self.path = Path(path)
        if format is None:
            format = self.path.suffix
            if not format:
                raise InvalidValueError(
                    f"{display(self.path)}: cannot tell the output format without a suffix; "
                    f"use one of {', '.join(SUPPORTED_FORMATS)} or pass format="
                )
        check_output_format(format, bit_depth)
        self.format = format_name(format)
        self.sample_rate = check_rate("sample_rate", sample_rate)
        if channels < 1:
            raise InvalidValueError(f"channels must be at least 1, got {channels}")
        self.channels = channels
        codec = _CODECS[self.format]
        self._bit_depth = min(bit_depth, codec.max_bit_depth or bit_depth)
        self._quality = quality if quality is not None else codec.default_quality
        self.clip_mode = check_clip_mode(clip_mode)
        self._limited = not holds_beyond_full_scale(self.format, bit_depth)
        self._group = files
        self._files = files if files is not None else AtomicFiles()
        self._temporary: Path | None = None
        self._spool_path: Path | None = None
        self._file = None  # the AudioFile
        self._raw = None  # the open file under it, for a name that is not UTF-8
        self._spool = None  # raw float32 samples until the peak is known ("rescale")
        self.frames = 0
        self.peak = 0.0
        self.clipped = 0  # samples beyond full scale

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> AudioWriter:
        self._temporary = self._files.reserve(self.path, suffix=f".{self.format}")
        try:
            self._file = self._open_encoder()  # now, so that bad options fail before any work
            if self._limited and self.clip_mode == "rescale":
                self._spool_path = temporary_name(self.path, ".f32")
                try:
                    self._spool = open(self._spool_path, "wb")
                except OSError as error:
                    raise DestinationError(
                        f"{display(self.path)}: cannot write: {error.strerror or error}"
                    ) from None
        except BaseException:
            self.abort()
            raise
        return self

    def _open_encoder(self) -> AudioFile:
        name = str(self._temporary)
        options = {"bit_depth": self._bit_depth, "quality": self._quality}
        try:
            if utf8_name(name):
                target = name  # the suffix tells pedalboard the format
            else:  # pedalboard takes only UTF-8 names; an open file it takes whatever its name
                self._raw = target = open(name, "wb")  # noqa: SIM115 (closed with the encoder)
                options["format"] = self.format
            return AudioFile(target, "w", self.sample_rate, self.channels, **options)
        except (*PEDALBOARD_ERRORS, TypeError) as error:
            raise DestinationError(
                f"{display(self.path)}: cannot write: {one_line(error)}"
            ) from None

    def write(self, block: np.ndarray) -> None:
        """Append float32 ``[channels, n]`` audio (float64 is converted)."""
        if self._file is None:
            raise RuntimeError("AudioWriter.write() called outside its with block or after abort()")
        block = as_planar_float32(block, self.channels)
        if not block.shape[1]:
            return
        problem = first_non_finite(block)
        if problem is not None:
            _, channel, sample = problem
            raise InvalidValueError(
                f"{display(self.path)}: the output holds NaN or infinite samples from frame "
                f"{self.frames + sample} (channel {channel}): a gain or effect setting is too "
                "extreme; nothing was written"
            )
        peak = float(np.max(np.abs(block)))
        self.peak = max(self.peak, peak)
        if self._limited and peak > 1.0:
            self.clipped += int(np.count_nonzero(np.abs(block) > 1.0))
            if self.clip_mode == "clamp":
                block = np.clip(block, -1.0, 1.0)
        self.frames += block.shape[1]
        if self._spool is not None:
            try:
                np.ascontiguousarray(block.T).tofile(self._spool)
            except OSError as error:
                raise self._failed("writing failed", error) from None
        else:
            self._encode(block)

    def _encode(self, block: np.ndarray) -> None:
        # pedalboard cannot tell channels from samples in a first square block; split it.
        square = block.shape[1] == self.channels > 1
        pieces = [block[:, :1], block[:, 1:]] if square else [block]
        try:
            for piece in pieces:
                self._file.write(np.ascontiguousarray(piece))
        except PEDALBOARD_ERRORS as error:
            raise self._failed("writing failed", error) from None

    def abort(self) -> None:
        """Stop writing and remove the temporary files; ``path`` is left as it was."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(*PEDALBOARD_ERRORS):  # the file is discarded anyway
                file.close()
        self._close_raw()
        spool, self._spool = self._spool, None
        if spool is not None:
            spool.close()
        self._remove_spool()
        if self._group is None:
            self._files.discard()
        elif self._temporary is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temporary.unlink()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is None:
            return
        if exc_type is not None:
            self.abort()
            return
        try:
            self._finish()
            if self._group is None:
                self._files.commit()
        except BaseException:
            self.abort()
            raise
        self._warn()

    # -- the end of a file ---------------------------------------------------------------------

    def _finish(self) -> None:
        if self._spool is not None:
            spool, self._spool = self._spool, None
            spool.close()
            scale = np.float32(1.0 / (_RESCALE_HEADROOM * self.peak) if self.peak > 1.0 else 1.0)
            block_frames = 1 << 16
            with open(self._spool_path, "rb") as spool:
                while True:
                    raw = np.fromfile(spool, np.float32, block_frames * self.channels)
                    if not raw.size:
                        break
                    self._encode(raw.reshape(-1, self.channels).T * scale)
            self._remove_spool()
        file, self._file = self._file, None
        self._close(file)

    def _close(self, file) -> None:
        try:
            file.close()
            self._close_raw()
        except PEDALBOARD_ERRORS as error:
            raise self._failed("cannot finish writing", error) from None

    def _failed(self, what: str, error: Exception) -> DestinationError:
        """The error for a write that failed: :class:`DiskFullError` when the device is full —
        said by the system (ENOSPC, a quota), by numpy's short write (no errno), or, for
        pedalboard's "Unable to write data", by the free space left beside the file."""
        if _disk_full(error, self._temporary):
            return DiskFullError(
                f"{display(self.path.parent)}: no space left on the device "
                f"(writing {display(self.path.name)})"
            )
        return DestinationError(f"{display(self.path)}: {what}: {one_line(error)}")

    def _close_raw(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()

    def _remove_spool(self) -> None:
        if self._spool_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._spool_path.unlink()

    def _warn(self) -> None:
        if not self.clipped:
            return
        peak_db = 20 * math.log10(self.peak)
        what = {
            "rescale": f"scaled by {-20 * math.log10(_RESCALE_HEADROOM * self.peak):.1f} dB "
            "so it does not clip",
            "clamp": "clamped at full scale (--clip-mode rescale scales it instead)",
            "none": "clipped by the format (--clip-mode rescale scales it instead)",
        }[self.clip_mode]
        warnings.warn(
            f"{display(self.path)}: {self.clipped} samples beyond full scale (peak "
            f"{peak_db:+.2f} dBFS), {what}",
            ClippingWarning,
            stacklevel=3,
        )


_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")
"""What numpy's ``tofile`` says on a full disk: no errno, only this."""
FULL_BELOW_BYTES = 1 << 20
"""Free space under which a write that failed without a reason is put down to a full disk."""


def _disk_full(error: Exception, temporary: Path | None) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if _SHORT_WRITE.search(str(error)) or os.strerror(errno.ENOSPC) in str(error):
        return True
    if temporary is None:
        return False
    try:
        return shutil.disk_usage(temporary.parent).free < FULL_BELOW_BYTES
    except OSError:
        return False
