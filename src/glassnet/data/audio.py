"""Audio in: reading clips with soundfile, one rate and one channel, and log-mel features
computed with torch (no torchaudio).

Features: a Hann-windowed STFT (25 ms windows every 10 ms at 16 kHz), its power through an
HTK-scale triangular mel filterbank, the log. `log_mel` is the one definition; the export
README carries a numpy twin (`LOG_MEL_SNIPPET`) and the tests a reference formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from glassnet.errors import DataError

RATE = 16_000
N_FFT, HOP = 400, 160  # 25 ms windows, 10 ms apart
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}
FLOOR = 1e-6  # added before the log: silence is log(1e-6), not -inf


class UnreadableAudio(ValueError):
    """Bytes or a file that do not decode to audio (the message says why)."""


@dataclass
class Clip:
    samples: np.ndarray  # float32 mono at RATE
    rate: int  # the file's own rate
    channels: int  # the file's own channel count


def decode_audio(source: str | Path | object) -> Clip:
    """A file path or a binary file object -> mono float32 samples at 16 kHz (resampled
    with a polyphase filter, channels averaged)."""
    import soundfile as sf

    try:
        data, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise UnreadableAudio(str(e).splitlines()[0] if str(e) else "not audio") from None
    if data.size == 0:
        raise UnreadableAudio("it holds no samples")
    channels = data.shape[1]
    mono = data.mean(axis=1)
    if rate != RATE:
        from scipy.signal import resample_poly

        g = math.gcd(int(rate), RATE)
        mono = resample_poly(mono, RATE // g, int(rate) // g).astype(np.float32)
    return Clip(np.ascontiguousarray(mono, dtype=np.float32), int(rate), channels)


def mel_filterbank(n_mels: int, n_fft: int = N_FFT, rate: int = RATE) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters evenly spaced on the HTK mel scale
    (mel = 2595 log10(1 + f / 700)) from 0 Hz to the Nyquist frequency, peaks of 1."""

    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    edges = hz(np.linspace(mel(np.array(0.0)), mel(np.array(rate / 2)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None] - lower) / (centre - lower)
    falling = (upper - freqs[None]) / (upper - centre)
    return torch.from_numpy(np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32))


_BANKS: dict[int, torch.Tensor] = {}


def log_mel(samples: torch.Tensor, n_mels: int = 64) -> torch.Tensor:
    """(N,) samples at 16 kHz -> (T, n_mels) log-mel features, T = 1 + N // HOP."""
    if n_mels not in _BANKS:
        _BANKS[n_mels] = mel_filterbank(n_mels)
    window = torch.hann_window(N_FFT, periodic=True)
    spec = torch.stft(
        samples.float(),
        N_FFT,
        HOP,
        N_FFT,
        window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )  # (F, T)
    power = spec.real**2 + spec.imag**2
    return torch.log(_BANKS[n_mels] @ power + FLOOR).T.contiguous()  # (T, n_mels)


def frames(n_samples: int) -> int:
    return 1 + n_samples // HOP


def find_audio(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
    )


def read_clip(path: Path) -> Clip:
    """`decode_audio` for a file, with errors that name it."""
    try:
        return decode_audio(path)
    except UnreadableAudio as e:
        raise DataError(
            f"'{path}' is not audio glassnet can read ({e})",
            fix="Use WAV, FLAC or OGG files (or remove it)",
        ) from None


# Plain-numpy twin of log_mel for the export README (the tests compare them).
LOG_MEL_SNIPPET = """\
import soundfile
from scipy.signal import resample_poly

RATE, N_FFT, HOP = 16000, 400, 160


def read(path):
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    samples = samples.mean(axis=1)
    if rate != RATE:
        g = np.gcd(int(rate), RATE)
        samples = resample_poly(samples, RATE // g, int(rate) // g)
    return samples.astype(np.float32)


def mel_bank(n_mels):
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    freqs = np.linspace(0, RATE / 2, N_FFT // 2 + 1)
    edges = hz(np.linspace(mel(0.0), mel(RATE / 2), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))


def log_mel(samples, n_mels):
    padded = np.pad(samples, N_FFT // 2, mode="reflect")
    count = 1 + (len(padded) - N_FFT) // HOP
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    frames = np.stack([padded[i * HOP : i * HOP + N_FFT] * window for i in range(count)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (T, F)
    return np.log(power @ mel_bank(n_mels).T + 1e-6).astype(np.float32)  # (T, n_mels)
"""
