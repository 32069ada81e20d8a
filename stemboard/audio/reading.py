"""Audio files read in blocks, and checked on the way: the only way stemboard reads audio.

Example::

    info = audio_info("song.flac")                        # rate, channels, frames, no decoding
    for block in read_blocks("song.mp3", 1 << 16):         # float32 [channels, n], in order
        ...

Every file is read in blocks, never in one ``read(frames)`` call, and MP3s are read the way
gapless decoders (ffmpeg, mpg123) read them. Two things pedalboard 0.9.26 (the newest release)
does not do on its own:

- An MP3 without a Xing/Info header but with data after its last frame (an ID3v1 tag: common in
  real files) has an over-estimated length; pedalboard then shifts the second channel of the
  read that reaches the end by the difference (a whole-file ``read(f.frames)`` shifts all of
  it). Such a short read is detected and decoded again from the start, now that the length is
  known.
- An MP3 written by LAME (pedalboard writes with LAME) starts with the encoder's and decoder's
  delay (576 + 529 samples) and ends with padding; its LAME tag says how much. These are cut
  off, so a file holds exactly the samples that were encoded, aligned with them (an MP3 that
  stemboard writes reads back with its original length).

Pedalboard's decoder itself is less exact than ffmpeg's on MPEG-2 files that use intensity
stereo (17-29 dB against ffmpeg on such files); stemboard cannot change that.

The checks, each a one-line :class:`~stemboard.errors.AudioFileError` (a ``ValueError``) or
:class:`~stemboard.errors.MissingFileError` (a ``FileNotFoundError``) naming the file:

- a missing file, a folder, a file pedalboard cannot decode;
- content that contradicts the file name: a ``.wav`` that is not a RIFF/RF64 WAVE, a ``.flac``
  without the FLAC marker, an ``.ogg`` that is not an Ogg stream, an ``.aiff`` that is not an
  AIFF, an ``.mp3`` that neither starts with an ID3 tag nor with an MPEG audio frame (pedalboard
  would otherwise try every decoder on it, and an MP3 decoder turns many non-audio bytes into
  noise);
- NaN or infinite samples (possible in float WAVs), with the frame and channel of the first.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from pedalboard.io import AudioFile, get_supported_read_formats

from stemboard.audio.layout import first_non_finite
from stemboard.audio.resampling import StreamingResampler, check_rate
from stemboard.errors import AudioFileError, MissingFileError

PEDALBOARD_ERRORS = (RuntimeError, ValueError, OSError)
"""What pedalboard raises for files it cannot open, decode or write."""

DEFAULT_BLOCK_FRAMES = 1 << 16
"""Frames per block when a caller does not say: 1.5 s at 44.1 kHz."""


def one_line(error: BaseException) -> str:
    """The first line of an exception's message (pedalboard's can run over several)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def display(path: str | os.PathLike[str]) -> str:
    """A path as messages show it, printable even when its bytes are not valid UTF-8."""
    text = os.fspath(path)
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file holds: sample rate (Hz), channels, frames and duration (seconds).

    For an MP3 with a LAME tag the frame count is exact (the encoded samples); for other MP3s
    it is pedalboard's estimate until the file is read through.
    """

    sample_rate: float
    channels: int
    frames: int
    duration: float


# --- what the first bytes of each container are ---------------------------------------------


def _is_wav(head: bytes) -> bool:
    return head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] == b"WAVE"


def _is_aiff(head: bytes) -> bool:
    return head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC")


def _after_id3(head: bytes) -> bytes:
    """The bytes after an ID3v2 tag at the start (its size is a 28-bit synchsafe integer)."""
    if head[:3] != b"ID3" or len(head) < 10:
        return head
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    footer = 10 if head[5] & 0x10 else 0
    return head[10 + size + footer :]


def _is_flac(head: bytes) -> bool:
    return head[:4] == b"fLaC" or (head[:3] == b"ID3" and _after_id3(head)[:4] == b"fLaC")


def _is_ogg(head: bytes) -> bool:
    return head[:4] == b"OggS"


def _is_mpeg_frame(data: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, then valid version, layer, bitrate and rate."""
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return False
    version, layer = (data[1] >> 3) & 0b11, (data[1] >> 1) & 0b11
    bitrate, rate = data[2] >> 4, (data[2] >> 2) & 0b11
    return version != 0b01 and layer != 0b00 and bitrate != 0b1111 and rate != 0b11


def _is_mp3(head: bytes) -> bool:
    if head[:3] == b"ID3":
        return True  # the tag can be larger than the bytes read; the decoder judges the rest
    return _is_mpeg_frame(head.lstrip(b"\0"))


_CONTAINERS = {
    ".wav": ("a WAV file", _is_wav),
    ".bwf": ("a WAV file", _is_wav),
    ".aif": ("an AIFF file", _is_aiff),
    ".aiff": ("an AIFF file", _is_aiff),
    ".flac": ("a FLAC file", _is_flac),
    ".ogg": ("an Ogg file", _is_ogg),
    ".mp3": ("an MP3 file", _is_mp3),
}
_HEAD_BYTES = 1 << 16


def _check_container(path: str) -> None:
    """Refuse a file whose first bytes are not what its suffix says it is."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _CONTAINERS:
        return
    what, matches = _CONTAINERS[suffix]
    try:
        with open(path, "rb") as file:
            head = file.read(_HEAD_BYTES)
    except OSError as error:
        raise AudioFileError(f"{display(path)}: cannot read it: {error.strerror}") from None
    if not head:
        raise AudioFileError(f"{display(path)}: the file is empty (0 bytes), not {what}")
    if not matches(head):
        raise AudioFileError(
            f"{display(path)}: the file's content is not {what}, as its name says "
            "(a renamed file of another format, or not audio at all)"
        )


def utf8_name(path: str) -> bool:
    """Whether pedalboard can take ``path`` as a name: it accepts only valid UTF-8 text, so a
    file whose name holds other bytes is handed to it as an open file instead."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextlib.contextmanager
def _open_for_reading(path: str) -> Iterator[AudioFile]:
    if os.path.isdir(path):
        raise AudioFileError(f"{display(path)}: is a folder, not an audio file")
    if not os.path.exists(path):
        raise MissingFileError(f"{display(path)}: no such file")
    _check_container(path)
    with contextlib.ExitStack() as stack:
        source = path if utf8_name(path) else stack.enter_context(open(path, "rb"))
        try:
            file = AudioFile(source)
        except PEDALBOARD_ERRORS as error:
            formats = ", ".join(get_supported_read_formats())
            raise AudioFileError(
                f"{display(path)}: cannot decode it as audio (pedalboard reads {formats}): "
                f"{one_line(error)}"
            ) from None
        with file:
            yield file


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Sample rate, channels, frames and duration of an audio file, without decoding it all.

    Example::

        audio_info("song.flac").sample_rate      # 44100.0

    Raises :class:`~stemboard.errors.MissingFileError` for a missing file and
    :class:`~stemboard.errors.AudioFileError` for a folder, an undecodable file or one whose
    content contradicts its name.
    """
    path = os.fspath(path)
    with _open_for_reading(path) as f:
        frames = f.frames
        gapless = mp3_gapless(path)
        if gapless is not None:
            frames = max(0, min(frames - gapless[0], gapless[1]))
        return AudioInfo(
            sample_rate=float(f.samplerate),
            channels=f.num_channels,
            frames=frames,
            duration=frames / f.samplerate,
        )


def read_blocks(
    path: str | os.PathLike[str],
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    sample_rate: float | None = None,
) -> Iterator[np.ndarray]:
    """Read an audio file as float32 ``[channels, block_frames]`` blocks (the last may be shorter).

    Example::

        for block in read_blocks("song.mp3", 44100, sample_rate=44100):
            ...                                    # one second at a time, at 44.1 kHz

    With ``sample_rate`` the audio is resampled on the way (by
    :class:`~stemboard.audio.resampling.StreamingResampler`, so the total is exactly
    ``round(frames * sample_rate / file_rate)``; pedalboard's ``resampled_to`` can come up one
    short). Only a block or two is in memory at a time. The file is checked before this returns;
    a decoding error or a NaN/infinite sample while reading is an
    :class:`~stemboard.errors.AudioFileError` naming the file and the frame. An empty file
    yields no blocks.
    """
    if block_frames < 1:
        raise ValueError(f"block_frames must be at least 1, got {block_frames}")
    if sample_rate is not None:
        sample_rate = check_rate("sample_rate", sample_rate)
    path = os.fspath(path)
    audio_info(path)
    return _read_blocks(path, block_frames, sample_rate)


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, float]:
    """A whole file as float32 ``[channels, frames]`` and its sample rate, read in blocks with
    every check of :func:`read_blocks` (``stemboard.read_audio``).

    Example::

        audio, rate = read_audio("song.mp3")     # the samples `stemboard separate` reads
    """
    info = audio_info(path)
    blocks = list(read_blocks(path))
    audio = np.concatenate(blocks, axis=1) if blocks else np.zeros((info.channels, 0), np.float32)
    return audio, info.sample_rate


def read_span(path: str | os.PathLike[str], start: int, stop: int) -> np.ndarray:
    """Frames ``[start, stop)`` of a file as float32 ``[channels, n]`` (fewer if it ends
    first), read in blocks from the beginning — no seeking, so they are the very samples
    :func:`read_blocks` gives."""
    if not 0 <= start <= stop:
        raise ValueError(f"expected 0 <= start <= stop, got {start}, {stop}")
    info = audio_info(path)
    pieces, position = [], 0
    for block in read_blocks(path):
        end = position + block.shape[1]
        if end > start:
            pieces.append(block[:, max(0, start - position) : stop - position])
        position = end
        if position >= stop:
            break
    if not pieces:
        return np.zeros((info.channels, 0), np.float32)
    return np.ascontiguousarray(np.concatenate(pieces, axis=1))


def _read_blocks(path: str, block_frames: int, sample_rate: float | None) -> Iterator[np.ndarray]:
    with _open_for_reading(path) as f:
        chunks = _decoded_chunks(f, path, block_frames)
        gapless = mp3_gapless(path)
        if gapless is not None:
            chunks = _trimmed(chunks, *gapless)
        if sample_rate is not None and sample_rate != f.samplerate:
            resampler = StreamingResampler(f.samplerate, sample_rate, f.num_channels)
            chunks = _resampled(chunks, resampler)
        yield from _reblocked(chunks, block_frames)


def _decoded_chunks(f: AudioFile, path: str, frames: int) -> Iterator[np.ndarray]:
    position = 0
    while True:
        promised = min(frames, f.frames - position)  # pedalboard's estimate, before reading
        try:
            chunk = f.read(frames)
            if 0 < chunk.shape[1] < promised and chunk.shape[0] > 1:
                # The estimate was too high and pedalboard shifted channels 1.. of this read;
                # the length is exact now, so this stretch decodes right from the start.
                chunk = _decoded_again(f, position, chunk.shape[1], frames)
        except PEDALBOARD_ERRORS as error:
            raise AudioFileError(
                f"{display(path)}: decoding failed at frame {position}: {one_line(error)}"
            ) from None
        if chunk.shape[1] == 0:
            return
        problem = first_non_finite(chunk)
        if problem is not None:
            _, channel, sample = problem
            raise AudioFileError(
                f"{display(path)}: holds NaN or infinite samples, the first at frame "
                f"{position + sample} (channel {channel})"
            )
        position += chunk.shape[1]
        yield chunk


def _decoded_again(f: AudioFile, start: int, count: int, frames: int) -> np.ndarray:
    """Frames ``[start, start + count)`` decoded again from the very beginning (pedalboard's
    seek to a later frame lands a frame early in MP3s; a seek to 0 is exact)."""
    f.seek(0)
    skipped = 0
    while skipped < start:
        skipped += f.read(min(frames, start - skipped)).shape[1]
    return f.read(count)


# --- gapless MP3 --------------------------------------------------------------------------------

_MP3_DECODER_DELAY = 529  # samples the MP3 synthesis filter adds, on top of the encoder's


def mp3_gapless(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(skip, length)`` of an MP3 with a LAME tag: the samples to drop at the start (encoder
    delay + decoder delay) and the number of samples that were encoded; None otherwise."""
    if os.path.splitext(os.fspath(path))[1].lower() != ".mp3":
        return None
    with open(path, "rb") as file:
        header = file.read(10)
        if header[:3] == b"ID3" and len(header) == 10:
            size = (header[6] << 21) | (header[7] << 14) | (header[8] << 7) | header[9]
            file.seek(10 + size + (10 if header[5] & 0x10 else 0))
        else:
            file.seek(0)
        frame = file.read(4096).lstrip(b"\0")
    if not _is_mpeg_frame(frame):
        return None
    mpeg1 = (frame[1] >> 3) & 0b11 == 0b11
    mono = frame[3] >> 6 == 0b11
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    xing = 4 + side_info
    if frame[xing : xing + 4] not in (b"Xing", b"Info"):
        return None
    flags = int.from_bytes(frame[xing + 4 : xing + 8], "big")
    at = xing + 8
    if not flags & 1:
        return None  # no frame count: the length is not known
    frames = int.from_bytes(frame[at : at + 4], "big")
    at += 4 + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
    if frame[at : at + 4] != b"LAME":
        return None
    delay_bytes = frame[at + 21 : at + 24]
    if len(delay_bytes) < 3:
        return None
    delay = (delay_bytes[0] << 4) | (delay_bytes[1] >> 4)
    padding = ((delay_bytes[1] & 0x0F) << 8) | delay_bytes[2]
    length = frames * (1152 if mpeg1 else 576) - delay - padding
    if length < 0:
        return None
    return delay + _MP3_DECODER_DELAY, length


def _trimmed(chunks: Iterable[np.ndarray], skip: int, length: int) -> Iterator[np.ndarray]:
    """The chunks without their first ``skip`` samples, and ``length`` samples at most."""
    position = 0
    for chunk in chunks:
        start, stop = position, position + chunk.shape[1]
        position = stop
        piece = chunk[:, max(0, skip - start) : max(0, skip + length - start)]
        if piece.shape[1]:
            yield piece
        if stop >= skip + length:
            return


def _resampled(chunks: Iterable[np.ndarray], resampler: StreamingResampler) -> Iterator[np.ndarray]:
    for chunk in chunks:
        yield resampler.process(chunk)
    yield resampler.flush()


def _reblocked(chunks: Iterable[np.ndarray], block_frames: int) -> Iterator[np.ndarray]:
    """``[channels, n]`` chunks of any sizes regrouped into ``block_frames``-long blocks."""
    pending: list[np.ndarray] = []
    pending_frames = 0
    for chunk in chunks:
        pending.append(chunk)
        pending_frames += chunk.shape[1]
        if pending_frames < block_frames:
            continue
        joined = pending[0] if len(pending) == 1 else np.concatenate(pending, axis=1)
        whole = pending_frames - pending_frames % block_frames
        for start in range(0, whole, block_frames):
            yield np.ascontiguousarray(joined[:, start : start + block_frames])
        pending = [joined[:, whole:]]
        pending_frames -= whole
    if pending_frames:
        yield np.ascontiguousarray(np.concatenate(pending, axis=1))
