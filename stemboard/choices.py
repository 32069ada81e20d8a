"""The values a user picks from, where the runtime, presets and the CLI all need them.

Plain tuples, no imports: the CLI builds its options from here without loading the runtime.
"""

from __future__ import annotations

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
"""Where a model runs: ``auto`` takes the GPU when one works."""

BIT_DEPTHS: tuple[int, ...] = (16, 24, 32)
"""16/24-bit integer; 32 is float for WAV, 24-bit for FLAC; ignored by OGG and MP3."""

CLIP_MODES: tuple[str, ...] = ("rescale", "clamp", "none")
"""What happens to samples beyond full scale in a format that cannot hold them (integer PCM
WAV, FLAC, OGG, MP3); 32-bit float WAV holds them and is written as it is.

- ``rescale`` (the default, as in demucs): the whole file is scaled down so that its peak sits
  just below full scale.
- ``clamp``: samples beyond full scale are set to it (audible distortion where it happens).
- ``none``: written as they are; the encoder clips them.

In every mode a warning says when and how much a file clipped or was scaled.
"""

DEFAULT_CLIP_MODE = "rescale"

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16", "int8")
"""The arithmetic a model runs in.

- ``auto`` (the default): the fastest path that passes the quality gate on this machine: bf16
  on a CPU that computes bf16 natively (with OpenVINO), fp32 otherwise.
- ``fp32``: full precision, on any device.
- ``bf16``: the CPU path through OpenVINO, on CPUs with native bf16 (AVX512_BF16 or AMX).
- ``fp16``: the model's ``.fp16.onnx`` variant, for the GPU.
- ``int8``: refused with the measurement that keeps it out (see docs/benchmarks.md).
"""

BACKENDS: tuple[str, ...] = ("auto", "openvino", "onnxruntime")
"""Which runtime runs a model: ``auto`` takes OpenVINO on the CPU when it is installed and
onnxruntime on the GPU (and on the CPU without OpenVINO)."""
