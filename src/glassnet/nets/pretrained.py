"""Reading pretrained weights from a local file, checked against the hash torchvision records.

torchvision names every weights file after the first hex digits of its SHA-256
(`resnet18-f37072fd.pth`, `fcos_resnet50_fpn_coco-99b0c9b7.pth`) and checks them only when
it downloads them itself; a file copied by hand, cut short or swapped for another model's is
loaded without a word (or fails deep inside `load_state_dict`). Here every file given with
`--weights` is hashed and compared with the digits in the URL of the weights it claims to
be, before anything is loaded.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import torch


class PretrainedWeightsUnavailable(RuntimeError):
    """Pretrained weights could not be fetched or read; the message says what to do."""


def expected_digest(tv_weights: Any) -> str:
    """The SHA-256 prefix torchvision records for a weights enum member (from its URL)."""
    found = re.search(r"-([0-9a-f]{6,})\.\w+$", tv_weights.url)
    if found is None:
        raise ValueError(f"no hash in {tv_weights.url}")
    return found.group(1)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pretrained_state(tv_weights: Any, weights: str | None) -> dict[str, torch.Tensor]:
    """The state dict to start from: the file given (`--weights FILE`), or torchvision's
    published file for `tv_weights` from torch's cache (checked: torch does not re-check a
    cached file), downloaded when missing and a network is there.

    A file whose name carries a hash the torch-hub way (`name-1a2b3c4d.pth`) must match it,
    whatever model it is; other files (your own checkpoints) are read as they are."""
    if weights is not None:
        path = Path(weights)
        named = re.search(r"-([0-9a-f]{8,})\.\w+$", path.name)
        if named is None:
            if not path.is_file():
                raise PretrainedWeightsUnavailable(f"weights file '{path}' does not exist")
            return read_state_dict(path)
        return read_checked(path, tv_weights, named.group(1))
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(tv_weights.url).name
    if cached.is_file():
        return read_checked(cached, tv_weights)
    try:  # torch checks the hash of what it downloads
        return tv_weights.get_state_dict(progress=False, check_hash=True)  # type: ignore[no-any-return]
    except (OSError, RuntimeError) as e:  # no network: urllib raises URLError (an OSError)
        raise PretrainedWeightsUnavailable(
            f"could not fetch torchvision's {tv_weights} weights ({e}). Without a network, "
            f"download {tv_weights.url} elsewhere and pass --weights FILE"
        ) from None


def read_checked(
    path: str | Path, tv_weights: Any, want: str | None = None
) -> dict[str, torch.Tensor]:
    """The state dict in `path`, after checking that it is the file of `tv_weights` (a
    torchvision weights enum member, e.g. ResNet18_Weights.IMAGENET1K_V1)."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsUnavailable(
            f"weights file '{path}' does not exist. Download {tv_weights.url} on a machine "
            "with a network and pass its path"
        )
    want = want or expected_digest(tv_weights)
    got = sha256_of(path)
    if not got.startswith(want):
        raise PretrainedWeightsUnavailable(
            f"'{path}' is not the file it should be: its SHA-256 starts {got[: len(want)]}, "
            f"the published file's starts {want} (a download cut short, or another file under "
            f"that name). Download it again (torchvision's {tv_weights}: {tv_weights.url})"
        )
    return read_state_dict(path)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A torchvision checkpoint: safetensors, or a .pth read with weights_only (no code)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise PretrainedWeightsUnavailable(f"'{path}' does not hold a state dict")
    return state
