"""Disjoint seed ranges for the synthetic data set, so train, valid and test songs never overlap."""

from __future__ import annotations

SPLITS: dict[str, range] = {
    "train": range(0, 1_000_000),
    "valid": range(1_000_000, 1_100_000),
    "test": range(2_000_000, 2_100_000),
}


def split_seeds(split: str, count: int, start: int = 0) -> list[int]:
    """The ``count`` seeds of ``split`` from offset ``start``.

    Example::

        split_seeds("test", 3)         # [2000000, 2000001, 2000002]
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    seeds = SPLITS[split]
    if count < 0 or start < 0:
        raise ValueError(f"count and start must be >= 0, got count={count}, start={start}")
    if start + count > len(seeds):
        raise ValueError(
            f"split {split!r} holds {len(seeds)} seeds; start={start} + count={count} is beyond it"
        )
    return list(seeds[start : start + count])


def split_of(seed: int) -> str:
    """The split ``seed`` belongs to; ``ValueError`` for a seed outside every split."""
    for name, seeds in SPLITS.items():
        if seed in seeds:
            return name
    ranges = ", ".join(f"{name} [{r.start}, {r.stop})" for name, r in SPLITS.items())
    raise ValueError(f"seed {seed} is in no split; splits: {ranges}")
