"""Small audio-file helpers for the tests (32-bit float WAV, so nothing is lost on the way)."""

from pedalboard.io import AudioFile

from stemboard.audio.reading import read_audio as read_file


def write_audio(path, audio, rate=44100):
    """Write float32 ``[channels, samples]`` to ``path`` (32-bit float, 24-bit for FLAC);
    returns ``path``."""
    bit_depth = 24 if str(path).endswith(".flac") else 32
    with AudioFile(str(path), "w", rate, audio.shape[0], bit_depth=bit_depth) as f:
        if audio.shape[1] == audio.shape[0] > 1:  # pedalboard cannot tell a square block's layout
            f.write(audio[:, :1])
            audio = audio[:, 1:]
        f.write(audio)
    return path


def read_audio(path):
    """``(audio [channels, samples], sample_rate)`` of a file, read in blocks as stemboard
    reads (pedalboard's one-call ``read(frames)`` refuses 0 frames and mis-reads some MP3s)."""
    return read_file(path)
