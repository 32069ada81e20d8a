"""Seeded synthetic songs with four stems (drums, bass, other, vocals) for training and evaluation.

Example::

    from stemboard.synth import generate_song, split_seeds, write_song

    for seed in split_seeds("test", 3):
        song = generate_song(seed, seconds=30.0)     # song.stems["vocals"]: float32 [2, samples]
        write_song(song, f"data/synth/song_{seed}")

numpy and pedalboard only; every song is a pure function of its seed.
"""

from stemboard.synth.song import Song, generate_song, write_song
from stemboard.synth.splits import SPLITS, split_of, split_seeds

__all__ = ["SPLITS", "Song", "generate_song", "split_of", "split_seeds", "write_song"]
