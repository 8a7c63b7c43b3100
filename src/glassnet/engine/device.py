"""Device and precision choice: cuda > mps > cpu; bf16 autocast only where it pays."""

from __future__ import annotations

import torch

from glassnet.errors import ConfigError


def choose_device(preference: str = "auto") -> torch.device:
    """The device to train on. An explicit choice that is not available is an error."""
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if preference == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if available[d]))
    if not available.get(preference, False):
        raise ConfigError(
            f"device '{preference}' is not available on this machine",
            fix="Use --device auto (or cpu)",
        )
    return torch.device(preference)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (x86 AVX512-BF16 or AMX): oneDNN then runs
    bf16 convolutions about twice as fast as fp32 ones."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        try:
            if getattr(cpu, probe)():
                return True
        except (AttributeError, RuntimeError):
            continue
    return False


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for forward passes outside training (validation, evaluation,
    prediction): bf16 on CUDA GPUs that support it (auto or bf16), on a CPU only when asked
    for (bf16); None means plain fp32."""
    if precision == "fp32":
        return None
    if device.type == "cpu":
        if precision == "bf16":
            _require_bf16(device, cpu_has_native_bf16())
            return torch.bfloat16
        return None
    capable = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "bf16":
        _require_bf16(device, capable)
    return torch.bfloat16 if capable else None


def train_autocast_dtype(
    device: torch.device, precision: str, net: torch.nn.Module
) -> torch.dtype | None:
    """The autocast dtype for training steps. As `autocast_dtype`, and with `auto` on a CPU
    with native bf16 also bf16 for nets that declare it pays (`cpu_bf16_training`: the
    conv nets of image classification, 1.9-2.2x faster steps for cnn.small measured on a
    2-core AVX512-BF16 machine at the same accuracy; weights, optimiser and validation stay
    fp32). MLPs gain nothing there; RNN forecasters, detectors and face embedders keep fp32
    until their benchmarks say bf16 costs them no accuracy."""
    if (
        precision == "auto"
        and device.type == "cpu"
        and getattr(net, "cpu_bf16_training", False)
        and cpu_has_native_bf16()
    ):
        return torch.bfloat16
    return autocast_dtype(device, precision)


def _require_bf16(device: torch.device, capable: bool) -> None:
    if not capable:
        where = "a CPU with AVX512-BF16 or AMX" if device.type == "cpu" else "a CUDA GPU"
        raise ConfigError(
            f"bf16 precision needs {where} that supports it; this run is on {device.type} "
            "without it",
            fix="Use --precision auto or fp32",
        )


def place_net(net: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a net to `device`; CNNs that prefer it get channels_last on CUDA (tensor cores
    read NHWC without transposes) and on CPU (oneDNN's convolutions: 8-13% faster steps for
    cnn.small measured on a 2-core x86 machine)."""
    net = net.to(device)
    if device.type in ("cuda", "cpu") and getattr(net, "prefers_channels_last", False):
        net = net.to(memory_format=torch.channels_last)
    return net
