"""What the file pipeline costs without a model: read, check, render, spool, encode, rename.

    python benchmarks/file_pipeline.py                   # one 4-minute stereo WAV, four stems
    python benchmarks/file_pipeline.py --minutes 1

Builds an ONNX model that follows stemboard's contract and returns the mix as every stem
(an identity: the model costs next to nothing), writes a music-like 16-bit WAV of
``--minutes``, and times ``stemboard.render.separate_file`` writing four stems as WAV, FLAC and
MP3 (16-bit, ``--clip-mode rescale``), side by side with separating the same audio in memory.
The difference between a format's time and the in-memory time is what files add per track,
on the CPU, whatever device runs the model. Needs the ``onnx`` package (the export extra).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from pedalboard.io import AudioFile

from stemboard.model_format import ModelInfo
from stemboard.node import SeparatorNode
from stemboard.render import separate_file
from stemboard.signals import music_like

SEGMENT = 440_320
SOURCES = ("drums", "bass", "other", "vocals")


def identity_model(path: Path) -> Path:
    """A model whose every stem is its input, with the contract's names and metadata."""
    nodes = [
        helper.make_node("Unsqueeze", ["mix", "axis"], ["one"]),
        helper.make_node("Concat", ["one"] * len(SOURCES), ["stems"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "identity",
        [helper.make_tensor_value_info("mix", TensorProto.FLOAT, ["batch", 2, SEGMENT])],
        [helper.make_tensor_value_info("stems", TensorProto.FLOAT, ["batch", 4, 2, SEGMENT])],
        [helper.make_tensor("axis", TensorProto.INT64, [1], [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    info = ModelInfo(SOURCES, 44100, SEGMENT, "identity", "0" * 64)
    for key, value in info.to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stemboard-files-") as scratch:
        folder = Path(scratch)
        node = SeparatorNode(identity_model(folder / "identity.onnx"), device="cpu")
        clip = music_like(30.0, seed=1)
        repeats = max(1, round(args.minutes * 2))
        audio = np.concatenate([clip] * repeats, axis=1)
        song = folder / "song.wav"
        with AudioFile(str(song), "w", 44100, 2, bit_depth=16) as f:
            f.write(audio)
        started = time.perf_counter()
        node.separate(audio, 44100)
        rows = [("in memory (node.separate)", time.perf_counter() - started)]
        for format in ("wav", "flac", "mp3"):
            started = time.perf_counter()
            separate_file(node, song, folder / format, format=format, bit_depth=16)
            rows.append((f"separate_file, four {format} stems", time.perf_counter() - started))
    print(f"identity model, {audio.shape[1] / 44100 / 60:.1f} min of 16-bit stereo, CPU")
    for label, seconds in rows:
        print(f"{label:<34}{seconds:>8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
