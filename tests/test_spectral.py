"""The real-valued STFT/ISTFT and the exportable HDemucs reproduce torchaudio exactly."""

import pytest
import torch
from torchaudio.models import HDemucs

from stemboard.export.exportable import make_exportable
from stemboard.export.spectral import RealInverseSpectrogram, RealSpectrogram
from stemboard.registry import architecture
from stemboard.signals import music_like


@pytest.fixture(scope="module")
def high_layout():
    # Only the spectral methods are used: weights do not matter, and `tiny` shares nfft/depth.
    return HDemucs(**architecture("tiny").hdemucs_kwargs()).eval()


@pytest.mark.parametrize("length", [3000, 4096, 5000, 44_100, 88_064, 100_003])
def test_spectrogram_matches_hdemucs_spec(high_layout, length):
    x = torch.randn(2, 2, length, generator=torch.Generator().manual_seed(length))
    expected = high_layout._spec(x)
    real = RealSpectrogram(4096)(x)
    assert real.shape == (2, 2, 2, 2048, expected.shape[-1])
    got = torch.complex(real[:, :, 0], real[:, :, 1])
    assert torch.allclose(got, expected, atol=2e-5, rtol=0)


@pytest.mark.parametrize("length", [3000, 5000, 44_100, 100_003])
def test_inverse_spectrogram_matches_hdemucs_ispec(high_layout, length):
    frames = -(-length // 1024)
    z = torch.randn(1, 4, 2, 2, 2048, frames, generator=torch.Generator().manual_seed(length))
    expected = high_layout._ispec(torch.complex(z[:, :, :, 0], z[:, :, :, 1]), length)
    got = RealInverseSpectrogram(4096)(z, length)
    assert got.shape == expected.shape == (1, 4, 2, length)
    assert torch.allclose(got, expected, atol=2e-5, rtol=0)


def test_inverse_ignores_imaginary_part_of_dc_as_istft_does():
    z = torch.zeros(1, 2, 2048, 5)
    z[0, 1, 0] = 3.0  # imaginary DC only
    assert RealInverseSpectrogram(4096)(z, 5000).abs().max() == 0


def test_roundtrip_matches_torchaudio_roundtrip(high_layout):
    # HDemucs drops the Nyquist bin, so its own round trip is not exactly the identity.
    x = torch.from_numpy(music_like(1.0, seed=3))
    y = RealInverseSpectrogram(4096)(RealSpectrogram(4096)(x), x.shape[-1])
    expected = high_layout._ispec(high_layout._spec(x), x.shape[-1])
    assert torch.allclose(y, expected, atol=1e-5)


@pytest.mark.parametrize("nfft", [1024, 2048])
def test_other_fft_sizes(nfft):
    model = HDemucs(["a", "b"], nfft=nfft, depth=5, channels=4)
    x = torch.randn(1, 2, 20_000, generator=torch.Generator().manual_seed(nfft))
    real = RealSpectrogram(nfft)(x)
    assert torch.allclose(torch.complex(real[:, :, 0], real[:, :, 1]), model._spec(x), atol=2e-5)


def test_exportable_model_computes_the_same_function():
    torch.manual_seed(1)
    model = HDemucs(**architecture("tiny").hdemucs_kwargs()).eval()
    exportable = make_exportable(model)
    mix = torch.from_numpy(music_like(5.0, seed=2))[None]
    with torch.no_grad():
        expected, got = model(mix), exportable(mix)
    assert torch.allclose(expected, got, atol=1e-5)
    # the original model is untouched
    assert type(model) is HDemucs
    assert not hasattr(model, "spectrogram")


def test_make_exportable_refuses_other_modules():
    with pytest.raises(TypeError, match="expected a Hybrid Demucs model, got Linear"):
        make_exportable(torch.nn.Linear(2, 2))
