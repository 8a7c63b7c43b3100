"""CNN family: a configurable conv stack (`cnn.small`) and torchvision ResNets.

Input (B, C, H, W) float, normalised. `forward_features` returns pooled features (B, F);
`stages` lists the conv stages in order, so explainers can hook feature maps and Grad-CAM
the last stage without knowing which CNN it is.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from glassnet.nets._registry import Positive, Probability, Scale, register_net
from glassnet.nets.pretrained import pretrained_state

DATA_ARGS = ("in_channels", "num_outputs")
Norm = Literal["batch", "none"]


class ConvNet(nn.Module):
    """[conv3x3 -> norm -> ReLU] x 2 -> maxpool, per width; global average pool; linear.
    The very first convolution may be larger (`first_kernel`): 5x5 filters have room to
    show the edges and colour blobs they learn, 3x3 ones hardly. `first_init` scales its
    random start: with batch norm after it the net computes the same function, but Adam's
    steps are then large against the weights, so the filters move far from their noise
    (measured on cartoon pets, 6 epochs: correlation with the start 0.60 at 0.2, 0.94 at 1)."""

    prefers_channels_last = True
    cpu_bf16_training = True  # see engine/device.train_autocast_dtype

    def __init__(
        self,
        *,
        in_channels: int,
        num_outputs: int,
        widths: tuple[int, ...] = (32, 64, 128),
        norm: Norm = "batch",
        dropout: float = 0.2,
        first_kernel: int = 3,
        first_init: float = 1.0,
    ) -> None:
        super().__init__()
        if first_kernel % 2 == 0:
            raise ValueError(f"first_kernel must be odd (got {first_kernel}), e.g. 3, 5 or 7")
        if not widths:
            raise ValueError("cnn.small needs at least one width, e.g. widths=(32, 64)")
        self.num_outputs = num_outputs
        stages, c = [], in_channels
        for w in widths:
            layers: list[nn.Module] = []
            for i in range(2):
                k = first_kernel if not stages and i == 0 else 3
                conv = nn.Conv2d(c if i == 0 else w, w, k, padding=k // 2, bias=norm == "none")
                layers.append(conv)
                if norm == "batch":
                    layers.append(nn.BatchNorm2d(w))
                layers.append(nn.ReLU(inplace=True))
            layers.append(nn.MaxPool2d(2))
            stages.append(nn.Sequential(*layers))
            c = w
        with torch.no_grad():
            stages[0][0].weight.mul_(first_init)
        self.stages = nn.ModuleList(stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(c, num_outputs)

    def forward_maps(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return x  # (B, C_last, H', W')

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.forward_maps(x)).flatten(1)  # (B, C_last)

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class ResNet(nn.Module):
    """A torchvision ResNet behind the family interface, with the input layer adapted to
    the data's channels and a new head for its classes."""

    prefers_channels_last = True
    cpu_bf16_training = True

    def __init__(
        self,
        *,
        depth: Literal[18, 34],
        in_channels: int,
        num_outputs: int,
        pretrained: bool = False,
        weights: str | None = None,
    ) -> None:
        super().__init__()
        from torchvision import models

        build = {18: models.resnet18, 34: models.resnet34}[depth]
        base = build(weights=None)
        if pretrained or weights is not None:
            enum = {18: models.ResNet18_Weights, 34: models.ResNet34_Weights}[depth]
            base.load_state_dict(pretrained_state(enum.DEFAULT, weights))
        self.num_outputs = num_outputs
        if in_channels != 3:
            old = base.conv1
            base.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
            if pretrained or weights is not None:  # keep what was learned: average the colours
                with torch.no_grad():
                    base.conv1.weight.copy_(
                        old.weight.mean(1, keepdim=True).repeat(1, in_channels, 1, 1)
                    )
        self.stem = nn.Sequential(base.conv1, base.bn1, base.relu, base.maxpool)
        self.stages = nn.ModuleList([base.layer1, base.layer2, base.layer3, base.layer4])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(base.fc.in_features, num_outputs)

    def forward_maps(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x  # (B, 512, H/32, W/32)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.forward_maps(x)).flatten(1)

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_net("cnn.small", data_args=DATA_ARGS)
def cnn_small(
    *,
    in_channels: int,
    num_outputs: int,
    widths: Annotated[tuple[Positive, ...], "channels of each conv stage, e.g. 32,64,128"] = (
        32,
        64,
        128,
    ),
    norm: Annotated[Norm, "normalisation after each convolution"] = "batch",
    dropout: Annotated[Probability, "dropout before the classifier"] = 0.2,
    first_kernel: Annotated[Positive, "size of the first layer's filters (odd: 3, 5, 7)"] = 3,
    first_init: Annotated[
        Scale, "scale of the first layer's random start (0.2: its filters show learning)"
    ] = 1.0,
) -> ConvNet:
    """A stack of conv-norm-ReLU blocks with pooling: fast, and its filters are easy to read."""
    return ConvNet(
        in_channels=in_channels,
        num_outputs=num_outputs,
        widths=tuple(widths),
        norm=norm,
        dropout=dropout,
        first_kernel=first_kernel,
        first_init=first_init,
    )


def _resnet(depth: Literal[18, 34]):  # noqa: ANN202
    def build(
        *,
        in_channels: int,
        num_outputs: int,
        pretrained: Annotated[
            bool, "start from torchvision's ImageNet weights (needs network)"
        ] = False,
        weights: Annotated[str | None, "a local torchvision weights file to start from"] = None,
    ) -> ResNet:
        return ResNet(
            depth=depth,
            in_channels=in_channels,
            num_outputs=num_outputs,
            pretrained=pretrained,
            weights=weights,
        )

    build.__doc__ = f"torchvision ResNet-{depth}; fine-tune with --pretrained or --weights FILE."
    return build


register_net("cnn.resnet18", data_args=DATA_ARGS)(_resnet(18))
register_net("cnn.resnet34", data_args=DATA_ARGS)(_resnet(34))
