"""A session's audio as 32-bit float WAV files: nothing clipped, nothing rounded, every DAW
reads it. Written by stemboard's one audio writer (:class:`~stemboard.audio.writing.AudioWriter`:
checked for NaN and infinity, whole or not at all), as every other file a render writes.

Example::

    write_wavs(session, Path("out/song/.karaoke-media.partial"), {"drums": "drums.wav", ...})
"""

from __future__ import annotations

from pathlib import Path

from stemboard.audio.writing import AudioWriter
from stemboard.sessions.contents import Session

BIT_DEPTH = 32
"""32-bit float: a session's levels and prints may go beyond full scale, and stay exact."""


def write_wavs(session: Session, folder: Path, names: dict[str, str]) -> dict[str, Path]:
    """Each audio track of ``session`` (``[2, samples]``) as ``folder/<names[key]>``, a WAV
    file at the session's sample rate; returns the files by track key."""
    written = {}
    for track in session.audio_tracks():
        path = folder / names[track.key]
        with AudioWriter(path, session.sample_rate, 2, "wav", BIT_DEPTH) as out:
            out.write(track.audio)
        written[track.key] = path
    return written
