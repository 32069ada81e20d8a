"""An export-ready copy of a torchaudio HDemucs: same weights, no complex tensors, no EyeLike.

``make_exportable(model)`` returns a deep copy whose modules are switched to subclasses that
override only what ONNX cannot express:

- ``HDemucs._spec`` / ``_magnitude`` / ``_mask`` / ``_ispec`` use the real-valued four-step
  transforms of :mod:`stemboard.export.spectral`, carrying real and imaginary parts on an axis
  of their own in the same order ``view_as_real`` gives;
- ``_LocalState`` builds its "no self-attention" mask from index equality instead of
  ``torch.eye(dtype=bool)``, which exports as an ``EyeLike`` onnxruntime cannot run.

One rewrite is only for speed: each residual branch ends in ``GroupNorm -> GLU -> LayerScale``,
and since ``s * (a * sigmoid(b)) = (s * a) * sigmoid(b)``, the LayerScale is folded into the
GroupNorm's affine weights for the ``a`` half, removing one full-size multiply per branch.

Everything else, ``HDemucs.forward`` included, is torchaudio's own code.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn
from torchaudio.models import HDemucs
from torchaudio.models._hdemucs import _DConv, _LayerScale, _LocalState

from stemboard.export.spectral import RealInverseSpectrogram, RealSpectrogram


class _RealValuedHDemucs(HDemucs):
    spectrogram: RealSpectrogram
    inverse_spectrogram: RealInverseSpectrogram

    def _spec(self, x: torch.Tensor) -> torch.Tensor:
        return self.spectrogram(x)  # [B, C, 2, F, T]

    def _magnitude(self, z: torch.Tensor) -> torch.Tensor:
        b, c, _, freqs, frames = z.shape
        return z.reshape(b, c * 2, freqs, frames)

    def _mask(self, m: torch.Tensor) -> torch.Tensor:
        b, s, _, freqs, frames = m.shape
        return m.reshape(b, s, -1, 2, freqs, frames)

    def _ispec(self, z: torch.Tensor, length: int | None = None) -> torch.Tensor:
        return self.inverse_spectrogram(z, length)


class _EyeFreeLocalState(_LocalState):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t = x.shape
        heads = self.heads
        indexes = torch.arange(t, device=x.device, dtype=x.dtype)
        delta = indexes[:, None] - indexes[None, :]
        queries = self.query(x).view(b, heads, -1, t)
        keys = self.key(x).view(b, heads, -1, t)
        dots = torch.einsum("bhct,bhcs->bhts", keys, queries) / math.sqrt(keys.shape[2])
        if self.ndecay:
            decays = torch.arange(1, self.ndecay + 1, device=x.device, dtype=x.dtype)
            decay_q = torch.sigmoid(self.query_decay(x).view(b, heads, -1, t)) / 2
            decay_kernel = -decays.view(-1, 1, 1) * delta.abs() / math.sqrt(self.ndecay)
            dots = dots + torch.einsum("fts,bhfs->bhts", decay_kernel, decay_q)
        dots = torch.where(delta == 0, torch.full_like(dots, -100.0), dots)
        weights = torch.softmax(dots, dim=2)
        content = self.content(x).view(b, heads, -1, t)
        result = torch.einsum("bhts,bhct->bhcs", weights, content).reshape(b, -1, t)
        return x + self.proj(result)


def _fold_layer_scales(dconv: _DConv) -> None:
    """``GroupNorm(2C) -> GLU -> LayerScale(C)`` becomes ``GroupNorm(2C) -> GLU`` (same output)."""
    for layer in dconv.layers:
        mods = list(layer)
        for i in range(len(mods) - 2):
            norm, glu, scale = mods[i : i + 3]
            if not (
                isinstance(norm, nn.GroupNorm)
                and norm.affine
                and isinstance(glu, nn.GLU)
                and glu.dim == 1
                and isinstance(scale, _LayerScale)
            ):
                continue
            channels = scale.scale.shape[0]
            with torch.no_grad():
                norm.weight[:channels] *= scale.scale
                norm.bias[:channels] *= scale.scale
            layer[i + 2] = nn.Identity()


class _LayerNormGroupNorm(nn.GroupNorm):
    """``GroupNorm(1, C)`` on ``[N, C, T]`` computed as a layer norm over ``(C, T)``.

    The two are the same function; onnxruntime runs ``LayerNormalization`` as one fused,
    multi-threaded kernel, while ``GroupNorm`` exports as InstanceNormalization plus a separate
    multiply and add over the whole tensor.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            return super().forward(x)
        shape = x.shape[1:]
        weight = self.weight[:, None].expand(shape)
        bias = self.bias[:, None].expand(shape)
        return F.layer_norm(x, shape, weight, bias, self.eps)


def make_exportable(model: HDemucs) -> HDemucs:
    """A deep copy of ``model`` that computes the same function with exportable operators."""
    if not isinstance(model, HDemucs):
        raise TypeError(f"expected a torchaudio HDemucs, got {type(model).__name__}")
    clone = copy.deepcopy(model).eval()
    for module in list(clone.modules()):
        if type(module) is _LocalState:
            module.__class__ = _EyeFreeLocalState
        elif isinstance(module, _DConv):
            _fold_layer_scales(module)
            for norm in module.modules():
                if type(norm) is nn.GroupNorm and norm.num_groups == 1 and norm.affine:
                    norm.__class__ = _LayerNormGroupNorm
    clone.__class__ = _RealValuedHDemucs
    clone.spectrogram = RealSpectrogram(clone.nfft)
    clone.inverse_spectrogram = RealInverseSpectrogram(clone.nfft)
    return clone
