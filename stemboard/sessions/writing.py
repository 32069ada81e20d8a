"""DAW sessions from a graph and its stems, written whole or not at all.

:func:`write_session` is the one entry point: ``render``, ``batch`` and the studio's export come
here through :class:`~stemboard.render.GraphRender`, Python callers directly.
Each kind (:data:`SESSION_KINDS`) is written next to the others in one folder:

- ``dawproject``: ``<name>.dawproject``, one zip holding the project and its audio.
- ``rpp``: ``<name>.rpp`` and the folder ``<name>-media/`` beside it with one WAV per track.

Names are safe in every DAW and file system (:func:`safe_name`); every path a session names is
relative and inside its folder. All files go to temporary names and are renamed together once
every one is complete (:class:`~stemboard.atomic.AtomicFiles`), so an error leaves none.

Example::

    stems = node.separate(audio, 44100)                     # [sources, 2, n]
    write_session(graph, stems, 44100, "out/song", ["dawproject", "rpp"], name="karaoke")
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from stemboard.atomic import AtomicFiles
from stemboard.errors import InvalidValueError
from stemboard.graph.graph import StemGraph
from stemboard.graph.preset_model import SESSION_KINDS
from stemboard.sessions.contents import CHAIN_MODES, Session, session_contents
from stemboard.sessions.dawproject import write_dawproject
from stemboard.sessions.reaper import write_rpp
from stemboard.sessions.wav import write_wavs

DEFAULT_CHAINS = "printed"
MEDIA_SUFFIX = "-media"

_UNSAFE = re.compile(r"[^A-Za-z0-9 ._+()-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10))}
_RESERVED |= {f"lpt{i}" for i in range(10)}


def safe_name(name: str, fallback: str = "track") -> str:
    """``name`` as a file name every DAW and file system takes: letters, digits, space and
    ``._+()-`` (anything else becomes ``_``), no leading dot or space, at most 80 characters,
    never a Windows device name. ``fallback`` when nothing is left."""
    cleaned = _UNSAFE.sub("_", name).strip(" .")[:80].strip(" .")
    if not cleaned or set(cleaned) <= {"_"}:
        cleaned = fallback
    if cleaned.split(".")[0].lower() in _RESERVED:
        cleaned = f"_{cleaned}"
    return cleaned


def check_session_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """``kinds`` in order, once each; ``ValueError`` naming an unknown one."""
    checked: list[str] = []
    for kind in kinds:
        if kind not in SESSION_KINDS:
            raise InvalidValueError(
                f"unknown session kind {kind!r}; choose from: {', '.join(SESSION_KINDS)}"
            )
        if kind not in checked:
            checked.append(kind)
    return tuple(checked)


def check_chains(chains: str) -> str:
    if chains not in CHAIN_MODES:
        raise InvalidValueError(
            f"unknown session chains {chains!r}; choose from: {', '.join(CHAIN_MODES)}"
        )
    return chains


def session_files(folder: str | os.PathLike, name: str, kinds: Sequence[str]) -> dict[str, Path]:
    """The file each session kind writes in ``folder`` (``rpp`` also writes its media folder,
    :func:`media_folder`)."""
    base = safe_name(name, "session")
    suffix = {"dawproject": ".dawproject", "rpp": ".rpp"}
    return {kind: Path(folder) / f"{base}{suffix[kind]}" for kind in check_session_kinds(kinds)}


def media_folder(rpp: Path) -> Path:
    """The folder of a REAPER session's audio: ``karaoke.rpp`` -> ``karaoke-media/``."""
    return rpp.with_name(rpp.stem + MEDIA_SUFFIX)


def companion_folders(kind: str, target: Path) -> tuple[Path, ...]:
    """The folders a session of ``kind`` at ``target`` comes with (written, renamed and
    cleaned up with it): a REAPER session's media folder; none for a DAWproject."""
    return (media_folder(target),) if check_session_kinds([kind]) == ("rpp",) else ()


def audio_file_names(session: Session) -> dict[str, str]:
    """A distinct safe WAV name per audio track, by key."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for track in session.audio_tracks():
        base = safe_name(track.name)
        name, count = f"{base}.wav", 1
        while name.lower() in used:
            count += 1
            name = f"{base}-{count}.wav"
        used.add(name.lower())
        names[track.key] = name
    return names


def write_session(
    graph: StemGraph,
    stems: np.ndarray,
    sample_rate: float,
    folder: str | os.PathLike,
    kinds: Sequence[str] = ("dawproject",),
    *,
    name: str = "session",
    chains: str = DEFAULT_CHAINS,
    files: AtomicFiles | None = None,
) -> dict[str, Path]:
    """Write ``graph``'s session of ``stems`` (``[sources, channels, samples]``, the graph's
    separated stems in the model's order) as each of ``kinds`` into ``folder``.

    ``chains``: ``"printed"`` renders every chain into the audio (the session plays what
    stemboard renders), ``"dry"`` leaves them to the DAW (see
    :mod:`stemboard.sessions.contents`). With ``files`` the session's files join that group
    (committed with the rest of a render); otherwise they are committed here. Returns the
    session file of each kind. Raises ``ValueError`` for an unknown kind or chains mode, or
    stems the graph does not have.
    """
    kinds = check_session_kinds(kinds)
    if not kinds:
        raise InvalidValueError("no session kind given; choose from: " + ", ".join(SESSION_KINDS))
    check_chains(chains)
    folder = Path(folder)
    targets = session_files(folder, name, kinds)
    made: dict[str, Session] = {}

    def contents(pan: str) -> Session:
        if pan not in made:
            made[pan] = session_contents(
                graph, stems, sample_rate, name=safe_name(name, "session"), chains=chains, pan=pan
            )
        return made[pan]

    own = files is None
    group = AtomicFiles() if own else files
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for kind, target in targets.items():
            if kind == "dawproject":
                session = contents("printed" if chains == "printed" else "fader")
                write_dawproject(session, group.reserve(target), audio_file_names(session))
            else:
                session = contents("fader")
                names = audio_file_names(session)
                media = group.reserve(media_folder(target), suffix="")
                media.mkdir()
                write_wavs(session, media, names)
                relative = {
                    key: f"{media_folder(target).name}/{file}" for key, file in names.items()
                }
                write_rpp(session, group.reserve(target), relative)
    except BaseException:
        if own:
            group.discard()
        raise
    if own:
        group.commit()
    return targets
