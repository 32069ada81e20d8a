"""DAW sessions: a graph's stems, levels, buses and chains as a DAWproject or REAPER project.

- :mod:`stemboard.sessions.colours`: each stem's colour, as the studio shows it.
- :mod:`stemboard.sessions.contents`: what a session holds (tracks, groups, levels, printed
  chains), whatever its format.
- :mod:`stemboard.sessions.wav`: a session's audio as 32-bit float WAV files, by the render's
  writer.
- :mod:`stemboard.sessions.dawproject`, :mod:`stemboard.sessions.reaper`: the two formats.
- :mod:`stemboard.sessions.writing`: :func:`write_session`, the one entry point.

Names are imported on first use.
"""

from stemboard.lazy import lazy_exports

__all__ = ["SESSION_KINDS", "session_contents", "write_session"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SESSION_KINDS": "stemboard.graph.preset_model",
        "session_contents": "stemboard.sessions.contents",
        "write_session": "stemboard.sessions.writing",
    },
)
