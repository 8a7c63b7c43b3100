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


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """bf16 on CUDA GPUs that support it (auto or bf16); None means plain fp32."""
    if precision == "fp32":
        return None
    capable = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "bf16" and not capable:
        raise ConfigError(
            f"bf16 precision needs a CUDA GPU that supports it; this run is on {device.type}",
            fix="Use --precision auto or fp32",
        )
    return torch.bfloat16 if capable else None


def place_net(net: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a net to `device`; CNNs that prefer it get channels_last on CUDA (tensor cores
    read NHWC without transposes) and on CPU (oneDNN's convolutions: 8-13% faster steps for
    cnn.small measured on a 2-core x86 machine)."""
    net = net.to(device)
    if device.type in ("cuda", "cpu") and getattr(net, "prefers_channels_last", False):
        net = net.to(memory_format=torch.channels_last)
    return net
