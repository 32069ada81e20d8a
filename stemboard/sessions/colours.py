"""Each stem's colour in a session, the same as in the studio (``studio/static/colours.js``).

A named stem (demucs' six) has its own colour; the stems of a model with other names take, in
order, the palette's colours that no stem of that model has by name. Buses and printed chains
take the neutral grey, the palette's last colour.

Example::

    stem_colours(("drums", "bass", "other", "vocals"))   # {"drums": "#4fb3ff", ...}
"""

from __future__ import annotations

from collections.abc import Sequence

PALETTE = ("#4fb3ff", "#ff8a5c", "#7bd88f", "#c792ea", "#f7c948", "#5ce1e6", "#ff6b9a", "#a0a8b0")
NAMED = {
    "drums": PALETTE[0],
    "bass": PALETTE[1],
    "other": PALETTE[2],
    "vocals": PALETTE[3],
    "guitar": PALETTE[4],
    "piano": PALETTE[5],
}
GROUP_COLOUR = PALETTE[-1]
"""Buses and printed chains: not a stem, so no stem's colour."""


def stem_colours(sources: Sequence[str]) -> dict[str, str]:
    """``#rrggbb`` per stem, as the studio's ``stemColours`` picks them."""
    taken = {NAMED[stem] for stem in sources if stem in NAMED}
    spare = [colour for colour in PALETTE if colour not in taken]
    colours, following = {}, 0
    for stem in sources:
        if stem in NAMED:
            colours[stem] = NAMED[stem]
        else:
            colours[stem] = spare[following % len(spare)]
            following += 1
    return colours
