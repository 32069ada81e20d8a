"""Small audio-file helpers for the tests (32-bit float WAV, so nothing is lost on the way)."""

from pedalboard.io import AudioFile


def write_audio(path, audio, rate=44100):
    """Write float32 ``[channels, samples]`` to ``path``; returns ``path``."""
    with AudioFile(str(path), "w", rate, audio.shape[0], bit_depth=32) as f:
        f.write(audio)
    return path


def read_audio(path):
    """``(audio [channels, samples], sample_rate)`` of a file."""
    with AudioFile(str(path)) as f:
        return f.read(f.frames), f.samplerate
