"""The receptive fields the lab draws are a claim: on nets of known structure, the patch a
cell is said to see is exactly the patch its gradient reaches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from glassnet.explain.cnn_probe import receptive_fields, stage_maps


class Staged(nn.Module):
    def __init__(self, stages: list[nn.Module]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for s in self.stages:
            x = s(x)
        return x.mean((2, 3))


def _known_net(pool: type[nn.Module] = nn.AvgPool2d) -> Staged:
    # Average pooling passes gradient to every input of its window (max pooling only to
    # the largest), so the gradient's reach is the whole field.
    torch.manual_seed(0)
    net = Staged(
        [
            nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), pool(2)),
            nn.Sequential(nn.Conv2d(2, 2, 5, padding=2, stride=2)),
            nn.Sequential(nn.Conv2d(2, 2, 3, padding=2, dilation=2), nn.AvgPool2d(2)),
        ]
    )
    for m in net.modules():  # positive weights, no ReLU: every pixel in the field counts
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 0.1)
            nn.init.zeros_(m.bias)
    return net


def _gradient_extent(net: Staged, stage: int, row: int, col: int, size: int) -> tuple[int, int]:
    """First and last input row a cell's gradient reaches (the cell's true field)."""
    x = torch.ones(1, 1, size, size, requires_grad=True)
    out = x
    for s in net.stages[: stage + 1]:
        out = s(out)
    out[0, 0, row, col].backward()
    rows = np.nonzero(x.grad[0, 0].abs().sum(1).numpy())[0]
    return int(rows.min()), int(rows.max())


@pytest.mark.parametrize("stage", [0, 1, 2])
def test_the_field_is_where_the_gradient_reaches(stage: int) -> None:
    net = _known_net()
    size = 64
    field = receptive_fields(net, list(net.stages))[stage]
    row = 5  # a cell away from the border, so the field is not clipped
    first, last = _gradient_extent(net, stage, row, 0 if stage else 5, size)
    centre = field.start + row * field.jump + 0.5  # in pixel-edge coordinates
    assert first == pytest.approx(centre - field.size / 2)
    assert last + 1 == pytest.approx(centre + field.size / 2)


def test_known_sizes_and_strides() -> None:
    net = _known_net(nn.MaxPool2d)
    fields = receptive_fields(net, list(net.stages))
    # conv3 -> 3, pool2 -> 4 (jump 2); conv5 s2 -> 4 + 4*2 = 12 (jump 4);
    # conv3 d2 -> 12 + 4*4 = 28, pool2 -> 28 + 4 = 32 (jump 8)
    assert [(f.size, f.jump) for f in fields] == [(4, 2), (12, 4), (32, 8)]


def test_stage_maps_describe_each_stage() -> None:
    out = stage_maps(_known_net(), torch.rand(1, 1, 32, 32), channels=1)
    assert [(lay["height"], lay["width"]) for lay in out["layers"]] == [(16, 16), (8, 8), (4, 4)]
    assert out["input"].startswith("data:image/png;base64,")
    assert len(out["layers"][0]["channels"]) == 1
    with pytest.raises(ValueError, match="no convolutional stages"):
        stage_maps(nn.Linear(3, 2), torch.rand(1, 3))


@pytest.mark.parametrize("stage", [0, 1, 2])
def test_top_patch_crop_is_the_cell_field(stage: int) -> None:
    """The top-patches view crops each tile to its cell's field: inside the image the crop
    is exactly the rows the cell's gradient reaches; at the border it is clipped."""
    from glassnet.explain.cnn_views import _field_box

    net = _known_net()
    size = 64
    field = receptive_fields(net, list(net.stages))[stage]
    first, last = _gradient_extent(net, stage, 5, 0 if stage else 5, size)
    y0, y1, _, _, cy, _ = _field_box(5, 5, field, size, size)
    assert (y0, y1) == (first, last + 1)
    assert y0 <= cy < y1
    top, bottom, left, right, _, _ = _field_box(0, 0, field, size, size)  # clipped at 0
    assert top == left == 0 and bottom == right < field.size


def test_top_patch_channels_fire_on_different_images() -> None:
    from glassnet.explain.cnn_views import _diverse_channels

    rng = np.random.default_rng(0)
    peak = torch.tensor(rng.random((40, 5)), dtype=torch.float32)
    peak[:6, 0] += 10  # channel 0: the most selective, on images 0-5
    peak[:6, 1] += 9  # channel 1: nearly as selective, on the same images
    peak[20:26, 2] += 5  # channel 2: other images
    chosen = _diverse_channels(peak, best=6, want=2)
    assert chosen == [0, 2]
