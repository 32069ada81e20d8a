"""A :class:`~stemboard.sessions.contents.Session` as a REAPER project (``.rpp``, plain text).

REAPER does not read DAWproject; its own project file is a tree of ``<BLOCK ... >`` lines. The
audio sits beside it in a media folder, named by a path relative to the project, so the
project's folder can be moved as a whole. Mapping:

- a stem is a ``<TRACK>`` with one ``<ITEM>`` at 0 s, as long as the song, whose ``<SOURCE
  WAVE>`` is its file; a bus is a folder track (``ISBUS 1 1``; the last track inside it closes
  it, ``ISBUS 2 -n``) whose tracks play through it, as REAPER routes a folder's children.
- gain and pan are ``VOLPAN`` (linear volume, pan -1 .. 1), mute and solo ``MUTESOLO`` (solo
  in place); the colour is ``PEAKCOL``; a track's comment is its item's notes, and the
  project's notes list every chain.
- the graph's pan law is set on every track: ``VOLPAN``'s pan-law field ``1.41421356`` (REAPER's
  "-3 dB, gain compensated": unity at centre, +3 dB hard over) with the sine taper
  (``PANLAWFLAGS 0``), REAPER's constant-power law — the graph's ``√2·cos θ``, ``√2·sin θ``.

Example::

    write_rpp(session, "out/song/karaoke.rpp", {"drums": "karaoke-media/drums.wav", ...})
"""

from __future__ import annotations

import math
import os
import uuid
from pathlib import Path

from stemboard.sessions.contents import Session, SessionTrack
from stemboard.version import __version__

PAN_LAW = math.sqrt(2.0)
"""REAPER's per-track pan law as a gain at the sides relative to centre: -3 dB, compensated."""
SINE_TAPER = 0


def quoted(text: str) -> str:
    """``text`` as one RPP token: quoted with a character it does not hold."""
    for mark in ('"', "'", "`"):
        if mark not in text:
            return f"{mark}{text}{mark}"
    return '"' + text.replace('"', "'") + '"'


def _colour(hex_colour: str) -> int:
    """``#rrggbb`` as REAPER stores a custom colour: ``0x01bbggrr``."""
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0x1000000 | blue << 16 | green << 8 | red


def _notes(text: str, indent: str) -> list[str]:
    lines = [f"{indent}<NOTES 0 2"]
    lines += [f"{indent}  |{line}" for line in text.splitlines() or [""]]
    return [*lines, f"{indent}>"]


def _folder(session: Session, index: int) -> str:
    """``ISBUS``: 1 1 opens a folder (a group); 2 -n on the last track of n folders closes them."""
    track = session.tracks[index]
    if track.kind == "group":
        return "ISBUS 1 1"
    following = session.tracks[index + 1].depth if index + 1 < len(session.tracks) else 0
    closed = track.depth - following
    return f"ISBUS 2 {-closed}" if closed > 0 else "ISBUS 0 0"


def _track(session: Session, index: int, media: dict[str, str]) -> list[str]:
    track: SessionTrack = session.tracks[index]
    guid = uuid.uuid5(uuid.NAMESPACE_URL, f"stemboard:{session.name}:{track.key}")
    volume = 10.0 ** (track.gain_db / 20.0)
    lines = [
        f"  <TRACK {{{str(guid).upper()}}}",
        f"    NAME {quoted(track.name)}",
        f"    PEAKCOL {_colour(track.colour)}",
        f"    PANLAWFLAGS {SINE_TAPER}",
        f"    VOLPAN {volume!r} {track.pan!r} {PAN_LAW!r} -1 1",
        f"    MUTESOLO {int(track.mute)} {2 if track.solo else 0} 0",
        f"    {_folder(session, index)}",
        "    NCHAN 2",
        "    MAINSEND 1 0",
    ]
    if track.kind == "audio":
        lines += [
            "    <ITEM",
            "      POSITION 0",
            f"      LENGTH {session.seconds!r}",
            "      LOOP 0",
            f"      NAME {quoted(track.name)}",
        ]
        if track.comment:
            lines += _notes(track.comment, "      ")
        lines += [
            "      <SOURCE WAVE",
            f"        FILE {quoted(media[track.key])}",
            "      >",
            "    >",
        ]
    return [*lines, "  >"]


def project_notes(session: Session) -> str:
    """What the project's notes say: where it came from and every chain."""
    lines = [f"{session.name}: stems and levels from stemboard {__version__}"]
    lines += [f"{track.name}: {track.comment}" for track in session.tracks if track.comment]
    if session.master_comment:
        lines.append(session.master_comment)
    return "\n".join(lines)


def rpp_text(session: Session, media: dict[str, str]) -> str:
    """The ``.rpp`` of ``session``; ``media`` maps each audio track's key to its relative path."""
    lines = [
        f'<REAPER_PROJECT 0.1 "7.0/stemboard-{__version__}" 0',
        *_notes(project_notes(session), "  "),
        f"  SAMPLERATE {session.sample_rate} 0 0",
        "  MASTER_VOLUME 1 0 -1 -1 1",
    ]
    for index in range(len(session.tracks)):
        lines += _track(session, index, media)
    return "\n".join([*lines, ">", ""])


def write_rpp(session: Session, target: str | os.PathLike, media: dict[str, str]) -> Path:
    """Write the project text to ``target`` (a path the caller made safe and atomic); the
    audio files named in ``media`` (relative to ``target``'s folder) are the caller's."""
    target = Path(target)
    target.write_text(rpp_text(session, media), encoding="utf-8")
    return target
