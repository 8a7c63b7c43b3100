"""Face embedders: a `cnn.*` net whose output layer gives `dim` numbers, made unit-length,
trained with an additive angular margin (ArcFace, Deng et al. 2019) against one learned
direction per training person.

`forward` returns the embedding (what predict, export and the galleries use); the margin
logits exist only for the loss (`arcface_logits`), so people seen in training have no
special place at inference: a new person is just another direction.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class FaceEmbedder(nn.Module):
    def __init__(
        self, backbone: nn.Module, people: int, dim: int, margin: float, scale: float
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.centres = nn.Parameter(torch.randn(people, dim) * 0.01)  # one per training person
        self.margin, self.scale = margin, scale

    @property
    def stages(self) -> nn.ModuleList:  # what the CNN views look at
        return self.backbone.stages  # type: ignore[return-value]

    @property
    def prefers_channels_last(self) -> bool:
        return bool(getattr(self.backbone, "prefers_channels_last", False))

    def forward(
        self, x: torch.Tensor, people: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The unit-length embedding; with `people` (training), also the margin logits, in
        the one forward call DDP sees (so the centres get their gradients synchronised)."""
        emb = F.normalize(self.backbone(x).float(), dim=-1)
        if people is None:
            return emb
        return self.arcface_logits(emb, people), emb

    def arcface_logits(self, emb: torch.Tensor, people: torch.Tensor) -> torch.Tensor:
        """scale * cos(angle + margin) for each sample's own person, scale * cos(angle) for
        the others: the loss asks for a gap of `margin` radians around every person."""
        margin, scale = self.margin, self.scale
        cos = emb @ F.normalize(self.centres, dim=-1).T  # (B, people)
        theta = torch.acos(cos.clamp(-1 + 1e-6, 1 - 1e-6))
        own = F.one_hot(people, cos.shape[1]).bool()
        # past pi - margin the angle + margin would wrap round and raise the cosine again
        target = torch.where(
            theta < math.pi - margin, torch.cos(theta + margin), cos - margin * math.sin(margin)
        )
        return scale * torch.where(own, target, cos)
