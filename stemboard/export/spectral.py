"""Real-valued STFT/ISTFT that reproduce HDemucs' ``_spec``/``_ispec`` and export to plain ONNX.

torch's complex ``stft``/``istft`` cannot be exported, and a dense DFT written as a convolution
costs ``nfft * nfft / 2`` multiply-adds per frame (about 146 GFLOP per 10 s segment at nfft 4096).
Here each frame goes through a four-step (Cooley-Tukey, ``nfft = rows * cols``) transform:

1. a length-``rows`` DFT along the strided axis, as one small real matrix product;
2. an element-wise complex twiddle multiply;
3. a length-``cols`` DFT along the other axis, again one real matrix product.

Only the bins HDemucs keeps (``0 .. nfft/2 - 1``; the Nyquist bin is dropped) are computed, so
at nfft 4096 a frame costs about one million multiply-adds instead of sixteen million. Every
operator is a MatMul, Mul, Add, Reshape, Transpose, Pad or Slice, which every onnxruntime
execution provider runs.

Layout conventions (``hop = nfft // 4`` as HDemucs requires):

- spectrogram ``[..., 2, freqs, frames]`` with real and imaginary parts on the ``2`` axis,
  ``freqs = nfft // 2``, ``frames = ceil(length / hop)``, exactly the frames HDemucs keeps.
- inside, frames stay on the last axis throughout, and the two factors of each frame are
  ordered so that every matrix product reads and writes contiguous memory: the only
  transposes move signal-sized blocks (one per direction), never a whole spectrogram.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _split_length(nfft: int) -> tuple[int, int]:
    """Factor ``nfft`` (a power of two) into ``rows * cols``, ``rows >= cols``, both near sqrt."""
    if nfft < 16 or nfft & (nfft - 1):
        raise ValueError(f"nfft must be a power of two >= 16, got {nfft}")
    cols = 1 << (int(math.log2(nfft)) // 2)
    return nfft // cols, cols


def _hann(nfft: int) -> np.ndarray:
    """torch.hann_window(nfft) (periodic), in float64."""
    n = np.arange(nfft)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / nfft)


class RealSpectrogram(nn.Module):
    """HDemucs ``_spec`` without complex numbers.

    ``forward(x)``: ``x [..., length]`` -> ``[..., 2, nfft // 2, ceil(length / hop)]``.
    """

    def __init__(self, nfft: int):
        super().__init__()
        self.nfft = nfft
        self.hop = nfft // 4
        rows, cols = _split_length(nfft)
        self.rows, self.cols = rows, cols
        half = cols // 2  # only bins k < nfft / 2, i.e. k2 < cols / 2, are needed
        self.half_cols = half
        # n = cols * n1 + n2 (n1 < rows, n2 < cols); k = k1 + rows * k2 (k1 < rows, k2 < half)
        k1 = np.arange(rows)
        angle1 = -2.0 * np.pi * np.outer(k1, np.arange(rows)) / rows  # [k1, n1]
        first = np.concatenate([np.cos(angle1), np.sin(angle1)], axis=0)  # [2 * rows, rows]
        n2 = np.arange(cols)
        twiddle = -2.0 * np.pi * np.outer(n2, k1) / nfft  # [n2, k1]
        angle2 = -2.0 * np.pi * np.outer(np.arange(half), n2) / cols  # [k2, n2]
        c2, s2 = np.cos(angle2), np.sin(angle2)
        # [[c, -s], [s, c]] @ [re; im] = [re c - im s; re s + im c]
        second = np.block([[c2, -s2], [s2, c2]])  # [2 * half, 2 * cols]
        # torch.stft(normalized=True) scales by nfft ** -0.5; fold it into the window.
        window = (_hann(nfft) / math.sqrt(nfft)).reshape(rows, cols).T  # [n2, n1]
        self.register_buffer("window", _constant(window[:, :, None]))
        self.register_buffer("first", _constant(first))
        self.register_buffer("twiddle_cos", _constant(np.cos(twiddle)[:, :, None]))
        self.register_buffer("twiddle_sin", _constant(np.sin(twiddle)[:, :, None]))
        self.register_buffer("second", _constant(second))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hop, rows, cols, half = self.hop, self.rows, self.cols, self.half_cols
        lead = x.shape[:-1]
        length = x.shape[-1]
        frames = math.ceil(length / hop)
        pad = hop // 2 * 3
        # The frames HDemucs keeps lie entirely inside its own reflect padding, so torch.stft's
        # centre padding never reaches them and is not reproduced.
        x = x.reshape(-1, 1, length)
        right = pad + frames * hop - length
        if length <= max(pad, right):
            x = F.pad(x, (0, max(pad, right) - length + 1))
        x = F.pad(x, (pad, right), mode="reflect")
        # sample t * hop + cols * j1 + n2 -> [M, n2, j1, t]; frame t is blocks t .. t + 3
        blocks = x.reshape(-1, frames + 3, hop // cols, cols).permute(0, 3, 2, 1)
        x = torch.stack([blocks[..., q : q + frames] for q in range(4)], dim=2)
        x = x.reshape(-1, cols, rows, frames) * self.window  # [M, n2, n1, T]
        a = torch.matmul(self.first, x)  # [M, n2, 2 * rows (re | im of k1), T]
        re, im = a[:, :, :rows], a[:, :, rows:]
        b = torch.cat(
            [
                re * self.twiddle_cos - im * self.twiddle_sin,
                re * self.twiddle_sin + im * self.twiddle_cos,
            ],
            dim=1,
        )  # [M, 2 * cols (re | im of n2), k1, T]
        z = torch.matmul(self.second, b.reshape(-1, 2 * cols, rows * frames))
        return z.reshape(*lead, 2, half * rows, frames)  # k = k1 + rows * k2


class RealInverseSpectrogram(nn.Module):
    """HDemucs ``_ispec`` without complex numbers.

    ``forward(z, length)``: ``z [..., 2, nfft // 2, frames]`` -> ``[..., length]``. As
    ``torch.istft`` does, the imaginary part of the DC bin is ignored and the (absent) Nyquist
    bin is zero.
    """

    def __init__(self, nfft: int):
        super().__init__()
        self.nfft = nfft
        self.hop = nfft // 4
        rows, cols = _split_length(nfft)
        self.rows, self.cols = rows, cols
        half = cols // 2
        self.half_cols = half
        # k = k1 + rows * k2 (k1 < rows, k2 < half); n = cols * n1 + n2
        n2 = np.arange(cols)
        angle1 = 2.0 * np.pi * np.outer(n2, np.arange(half)) / cols  # [n2, k2]
        c1, s1 = np.cos(angle1), np.sin(angle1)
        first = np.block([[c1, -s1], [s1, c1]])  # [2 * cols, 2 * half]
        k1 = np.arange(rows)
        twiddle = 2.0 * np.pi * np.outer(n2, k1) / nfft  # [n2, k1]
        angle2 = 2.0 * np.pi * np.outer(np.arange(rows), k1) / rows  # [n1, k1]
        # real part only: x = cos @ re - sin @ im
        second = np.concatenate([np.cos(angle2), -np.sin(angle2)], axis=1)  # [n1, 2 * rows]
        # A one-sided inverse counts every bin but DC twice; irfft divides by nfft and
        # istft(normalized=True) multiplies by sqrt(nfft).
        weight = np.full(half * rows, 2.0)
        weight[0] = 1.0
        weight /= math.sqrt(nfft)
        window = _hann(nfft).reshape(rows, cols).T[:, :, None]  # [n2, n1, 1]
        self.register_buffer("weight", _constant(weight[:, None]))
        self.register_buffer("first", _constant(first))
        self.register_buffer("twiddle_cos", _constant(np.cos(twiddle)[:, :, None]))
        self.register_buffer("twiddle_sin", _constant(np.sin(twiddle)[:, :, None]))
        self.register_buffer("second", _constant(second))
        self.register_buffer("window", _constant(window))
        self.register_buffer("window_squared", _constant(window * window))

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """``[M, n2, n1, T]`` frames -> ``[M, (T + 3) * hop]``, frame ``t`` at ``t * hop``."""
        m, cols, _, count = frames.shape
        quarters = frames.reshape(m, cols, 4, self.hop // cols, count)
        out = None
        for q in range(4):
            shifted = F.pad(quarters[:, :, q], (q, 3 - q))
            out = shifted if out is None else out + shifted
        # [M, n2, j1, t] -> sample t * hop + cols * j1 + n2
        return out.permute(0, 3, 2, 1).reshape(m, (count + 3) * self.hop)

    def forward(self, z: torch.Tensor, length: int) -> torch.Tensor:
        rows, cols, half, hop = self.rows, self.cols, self.half_cols, self.hop
        lead = z.shape[:-3]
        frames = z.shape[-1]
        z = (z.reshape(-1, 2, half * rows, frames) * self.weight).reshape(
            -1, 2 * half, rows * frames
        )
        b = torch.matmul(self.first, z).reshape(-1, 2, cols, rows, frames)  # [M, 2, n2, k1, T]
        re, im = b[:, 0], b[:, 1]
        b = torch.cat(
            [
                re * self.twiddle_cos - im * self.twiddle_sin,
                re * self.twiddle_sin + im * self.twiddle_cos,
            ],
            dim=2,
        )  # [M, n2, 2 * rows (re | im of k1), T]
        x = torch.matmul(self.second, b) * self.window  # [M, n2, n1, T]
        x = self._overlap_add(x)
        # torch.istft divides by the overlap-added squared window, counting the two empty frames
        # HDemucs pads on each side; frame t starts 1.5 hops before output sample t * hop.
        envelope = self._overlap_add(self.window_squared.expand(1, cols, rows, frames + 4))
        start = hop // 2 * 3
        envelope = envelope[:, 2 * hop + start : 2 * hop + start + length]
        x = x[:, start : start + length] / envelope
        return x.reshape(*lead, length)


def _constant(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.ascontiguousarray(array), dtype=torch.float32)
