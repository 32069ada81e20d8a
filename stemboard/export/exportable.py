"""An export-ready copy of a Hybrid Demucs: same weights, no complex tensors, no EyeLike.

``make_exportable(model)`` takes torchaudio's ``HDemucs``, demucs' ``HDemucs`` (v3) and
``HTDemucs`` (v4), or a :class:`Bag` of them, and returns a deep copy whose modules are switched
to subclasses that override only what ONNX cannot express:

- ``HDemucs._spec`` / ``_magnitude`` / ``_mask`` / ``_ispec`` use the real-valued four-step
  transforms of :mod:`stemboard.export.spectral`, carrying real and imaginary parts on an axis
  of their own in the same order ``view_as_real`` gives;
- ``_LocalState`` (demucs' ``LocalState``) builds its "no self-attention" mask from index
  equality instead of ``torch.eye(dtype=bool)``, which exports as an ``EyeLike`` onnxruntime
  cannot run.

demucs' two classes name these methods as torchaudio does (torchaudio's is a port of demucs v3)
and lay the spectrogram out the same way (complex as channels, ``cac=True``), so the same
overrides serve all three.

One rewrite is only for speed: each residual branch ends in ``GroupNorm -> GLU -> LayerScale``,
and since ``s * (a * sigmoid(b)) = (s * a) * sigmoid(b)``, the LayerScale is folded into the
GroupNorm's affine weights for the ``a`` half, removing one full-size multiply per branch. The
fold is computed in the graph from the untouched parameters, so every parameter keeps its
``state_dict`` name and value in the exported file (what binding weights without torch needs,
:mod:`stemboard.export.weight_free`).

Everything else, every ``forward`` included, is torchaudio's or demucs' own code.
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


class _RealValued:
    """The spectral methods of every Hybrid Demucs class, real-valued: the spectrogram keeps
    real and imaginary parts on an axis of its own (``[B, C, 2, F, T]``), which is exactly the
    "complex as channels" layout the models' ``_magnitude`` and ``_mask`` produce."""

    spectrogram: RealSpectrogram
    inverse_spectrogram: RealInverseSpectrogram

    def _spec(self, x: torch.Tensor) -> torch.Tensor:
        return self.spectrogram(x)  # [B, C, 2, F, T]

    def _magnitude(self, z: torch.Tensor) -> torch.Tensor:
        b, c, _, freqs, frames = z.shape
        return z.reshape(b, c * 2, freqs, frames)

    def _mask(self, *args: torch.Tensor) -> torch.Tensor:
        m = args[-1]  # torchaudio's takes (m), demucs' (z, m)
        b, s, _, freqs, frames = m.shape
        return m.reshape(b, s, -1, 2, freqs, frames)

    def _ispec(self, z: torch.Tensor, length: int | None = None, scale: int = 0) -> torch.Tensor:
        return self.inverse_spectrogram(z, length)


class _RealValuedHDemucs(_RealValued, HDemucs):
    pass


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


def _is_layer_scale(module: nn.Module) -> bool:
    """torchaudio's ``_LayerScale`` or demucs' ``demucs.demucs.LayerScale`` (``scale[:, None] *
    x``, the same function)."""
    return isinstance(module, _LayerScale) or (
        type(module).__module__ == "demucs.demucs" and type(module).__name__ == "LayerScale"
    )


def _fold_layer_scales(dconv: nn.Module) -> None:
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
                and _is_layer_scale(scale)
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


class Bag(nn.Module):
    """Several models of one layout whose stems are averaged with per-source weights, as
    demucs' ``BagOfModels`` does in ``apply_model``: stem ``s`` is ``sum_k w[k][s] * y_k[s] /
    sum_k w[k][s]``. A model whose weight for a stem is zero does not contribute to it (its
    parameters are named ``models.<k>.<name>``, as in ``BagOfModels``)."""

    def __init__(self, models: list[nn.Module], weights: list[list[float]]):
        super().__init__()
        if len(weights) != len(models) or any(len(row) != len(weights[0]) for row in weights):
            raise ValueError("a bag needs one row of per-source weights per model")
        self.models = nn.ModuleList(models)
        self.weights = [list(map(float, row)) for row in weights]
        self.sources = getattr(models[0], "sources", None)

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        outputs = [model(mix) for model in self.models]
        stems = []
        for source in range(len(self.weights[0])):
            column = [(row[source], out) for row, out in zip(self.weights, outputs, strict=True)]
            total = sum(weight for weight, _ in column)
            picked = [weight / total * out[:, source] for weight, out in column if weight]
            stems.append(picked[0] if len(picked) == 1 else torch.stack(picked).sum(0))
        return torch.stack(stems, dim=1)


def _demucs_classes() -> dict[str, type]:
    """demucs' model classes by name, when the ``demucs`` package is installed."""
    try:
        from demucs.demucs import LocalState
        from demucs.hdemucs import HDemucs as DemucsHDemucs
        from demucs.htdemucs import HTDemucs
    except ImportError:
        return {}
    return {"HTDemucs": HTDemucs, "HDemucs": DemucsHDemucs, "LocalState": LocalState}


def _exportable_demucs(clone: nn.Module) -> None:
    """Switch a demucs ``HDemucs``/``HTDemucs`` (already a copy) to the real-valued methods."""
    if not clone.cac:
        raise ValueError(
            f"{type(clone).__name__} with cac=False (magnitude masks, Wiener filtering) "
            "cannot be exported; only complex-as-channels models can"
        )
    if getattr(clone, "hybrid", True) is False or getattr(clone, "hybrid_old", False):
        raise ValueError("only hybrid (not hybrid_old) demucs HDemucs models can be exported")
    base = type(clone)
    clone.__class__ = type(f"_RealValued{base.__name__}", (_RealValued, base), {})
    clone.spectrogram = RealSpectrogram(clone.nfft)
    clone.inverse_spectrogram = RealInverseSpectrogram(clone.nfft)


def _exportable_modules(clone: nn.Module, local_states: tuple[type, ...]) -> None:
    for module in list(clone.modules()):
        if type(module) in local_states:
            module.__class__ = _EyeFreeLocalState
        elif isinstance(module, _DConv) or (
            type(module).__module__ == "demucs.demucs" and type(module).__name__ == "DConv"
        ):
            _fold_layer_scales(module)
            for norm in module.modules():
                if type(norm) is nn.GroupNorm and norm.num_groups == 1 and norm.affine:
                    norm.__class__ = _LayerNormGroupNorm


def make_exportable(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` (torchaudio's HDemucs, demucs' HDemucs or HTDemucs, or a
    :class:`Bag` of them) that computes the same function with exportable operators."""
    demucs = _demucs_classes()
    demucs_models = tuple(demucs[name] for name in ("HTDemucs", "HDemucs") if name in demucs)
    members = list(model.models) if isinstance(model, Bag) else [model]
    for member in members:
        if not isinstance(member, (HDemucs, *demucs_models)):
            raise TypeError(f"expected a Hybrid Demucs model, got {type(member).__name__}")
    clone = copy.deepcopy(model).eval()
    local_states = (_LocalState, *((demucs["LocalState"],) if demucs else ()))
    _exportable_modules(clone, local_states)
    for member in list(clone.models) if isinstance(clone, Bag) else [clone]:
        if isinstance(member, HDemucs):
            member.__class__ = _RealValuedHDemucs
            member.spectrogram = RealSpectrogram(member.nfft)
            member.inverse_spectrogram = RealInverseSpectrogram(member.nfft)
        else:
            _exportable_demucs(member)
    return clone
