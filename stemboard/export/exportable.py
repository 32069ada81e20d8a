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
GroupNorm's affine weights for the ``a`` half, removing one full-size multiply per branch. The
fold is computed in the graph from the untouched parameters, so every parameter keeps its
``state_dict`` name and value in the exported file (what binding weights without torch needs,
:mod:`stemboard.export.weight_free`).

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


class _ScaleFoldedLayer(nn.Sequential):
    """A ``_DConv`` layer whose closing ``GroupNorm(2C) -> GLU -> LayerScale(C)`` runs as
    ``GroupNorm(2C)`` with the scale multiplied into the affine weights of the ``a`` half, then
    ``GLU`` (the same output: ``s * (a * sigmoid(b)) = (s * a) * sigmoid(b)``).

    The product of the two parameters is computed in the graph, not stored: the exported file
    keeps every parameter under its ``state_dict`` name, and the runtime folds the product (a
    constant) when it loads the graph.
    """

    folded_at: int  # index of the GroupNorm; the GLU and the LayerScale follow it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mods = list(self)
        at = self.folded_at
        for module in mods[:at]:
            x = module(x)
        norm, glu, scale = mods[at : at + 3]
        ones = torch.ones_like(norm.weight[scale.scale.shape[0] :])
        factor = torch.cat([scale.scale, ones])
        x = _group_norm(norm, x, norm.weight * factor, norm.bias * factor)
        x = glu(x)
        for module in mods[at + 3 :]:
            x = module(x)
        return x


def _fold_layer_scales(dconv: _DConv) -> None:
    """Run each ``GroupNorm(2C) -> GLU -> LayerScale(C)`` of ``dconv`` as one scaled norm."""
    for layer in dconv.layers:
        mods = list(layer)
        for i in range(len(mods) - 2):
            norm, glu, scale = mods[i : i + 3]
            if (
                isinstance(norm, nn.GroupNorm)
                and norm.affine
                and isinstance(glu, nn.GLU)
                and glu.dim == 1
                and isinstance(scale, _LayerScale)
            ):
                layer.__class__ = _ScaleFoldedLayer
                layer.folded_at = i
                break


def _group_norm(
    norm: nn.GroupNorm, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """``norm`` applied to ``x`` with the given affine parameters; a one-group norm over
    ``[N, C, T]`` as the layer norm it equals (see :class:`_LayerNormGroupNorm`)."""
    if norm.num_groups == 1 and x.dim() == 3:
        shape = x.shape[1:]
        return F.layer_norm(
            x, shape, weight[:, None].expand(shape), bias[:, None].expand(shape), norm.eps
        )
    return F.group_norm(x, norm.num_groups, weight, bias, norm.eps)


class _LayerNormGroupNorm(nn.GroupNorm):
    """``GroupNorm(1, C)`` on ``[N, C, T]`` computed as a layer norm over ``(C, T)``.

    The two are the same function; onnxruntime runs ``LayerNormalization`` as one fused,
    multi-threaded kernel, while ``GroupNorm`` exports as InstanceNormalization plus a separate
    multiply and add over the whole tensor.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _group_norm(self, x, self.weight, self.bias)


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
