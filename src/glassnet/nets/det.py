"""Detectors (CNN family `det.*`): a readable CenterNet and torchvision's FCOS, both on the
`cnn.small` stages.

Every det.* net offers the detection task the same few things: `forward(x)` -> raw outputs,
`loss(raw, boxes, labels)`, `detect(raw, top_k)` -> the top-k boxes, scores and classes per
image (fixed shapes, so the graph exports), `score_map(raw)` -> per-class score logits on
its finest grid with `score_read` saying how to read them, and `stages` /
`forward_levels(x)` for the views.

CenterNet ("Objects as Points", Zhou et al. 2019) predicts, for every cell of a map at a
quarter of the input's resolution, a heat value per class (is there an object's centre
here?), the object's width and height, and the centre's offset inside the cell. Decoding
keeps the peaks of the heat map (a 3x3 max-pool instead of box NMS) and reads the box at
each peak. Input (B, C, H, W) float, normalised; H and W multiples of 16.
"""

from __future__ import annotations

import math
import warnings
from typing import Annotated, Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from glassnet.nets._registry import register_net
from glassnet.nets.cnn import ConvNet, Norm

DATA_ARGS = ("in_channels", "num_classes")
STRIDE = 4  # the output map is a quarter of the input's size
PRIOR = 0.01  # initial heat: rare objects (the focal-loss prior of RetinaNet)


Widths = Annotated[tuple[int, ...], "channels of each backbone stage, e.g. 32,64,128,256"]
StemWidth = Annotated[int, "channels of the strided first convolution"]


def small_backbone(
    in_channels: int, stem: int, widths: tuple[int, ...], norm: Norm
) -> tuple[nn.Sequential, nn.ModuleList]:
    """A strided stem (the full-resolution convolutions were 3/4 of a CPU's time, for
    features a stride-4 output never sees) and cnn.small stages: stage k ends at stride
    2^(k+2)."""
    first = nn.Sequential(
        nn.Conv2d(in_channels, stem, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(stem),
        nn.ReLU(inplace=True),
    )
    return first, ConvNet(in_channels=stem, num_outputs=1, widths=tuple(widths), norm=norm).stages


def run_stages(x: torch.Tensor, stages: Any) -> list[torch.Tensor]:
    """Each stage's output in turn, shallow to deep."""
    levels = []
    for stage in stages:
        x = stage(x)
        levels.append(x)
    return levels


def _head(width: int, out: int, bias: float = 0.0) -> nn.Sequential:
    last = nn.Conv2d(width, out, 1)
    nn.init.constant_(last.bias, bias)
    return nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True), last)


class CenterNet(nn.Module):
    """A strided stem, then cnn.small stages (outputs at strides 4, 8, 16, 32), a top-down
    path that adds the deeper maps back at stride 4 (a small FPN), and three heads on that
    map. The stem halves the picture first: the full-resolution convolutions were 3/4 of
    the cost on a CPU, for features a stride-4 output never sees."""

    prefers_channels_last = True

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        stem: int = 16,
        head: int = 48,
        norm: Norm = "batch",
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("det.centernet needs at least one stage width, e.g. widths=32,64")
        self.num_classes = num_classes
        self.stem, self.stages = small_backbone(in_channels, stem, widths, norm)
        self.lateral = nn.ModuleList(nn.Conv2d(w, head, 1) for w in widths)
        self.smooth = nn.Sequential(
            nn.Conv2d(head, head, 3, padding=1, bias=False), nn.BatchNorm2d(head), nn.ReLU(True)
        )
        prior = -float(torch.log(torch.tensor((1 - PRIOR) / PRIOR)))
        self.heatmap = _head(head, num_classes, bias=prior)
        self.size = _head(head, 2)  # log(width / STRIDE), log(height / STRIDE)
        self.offset = _head(head, 2)  # the centre inside its cell, 0..1

    def forward_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's output, shallow (stride 4) to deep."""
        return run_stages(self.stem(x), self.stages)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        """The shared map at stride 4 (B, head, H/4, W/4): deep maps upsampled and added."""
        levels = self.forward_levels(x)
        top = self.lateral[-1](levels[-1])
        for lateral, level in zip(
            reversed(list(self.lateral)[:-1]), reversed(levels[:-1]), strict=True
        ):
            top = lateral(level) + F.interpolate(top, size=level.shape[-2:], mode="nearest")
        return self.smooth(top)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.forward_map(x)
        return {
            "heatmap": self.heatmap(f),  # (B, K, H/4, W/4) logits
            "size": self.size(f),  # (B, 2, H/4, W/4)
            "offset": self.offset(f).sigmoid(),  # (B, 2, H/4, W/4)
        }

    # ---- what every det.* net offers the detection task and its views ------------------
    score_read = (
        "CenterNet paints one heat map per class at a quarter of the picture's resolution; a "
        "bright spot says 'the centre of an object of this class is here'. Each peak above the "
        "threshold becomes a box whose size the net predicts at that spot, so a missed object "
        "has no peak and a false alarm has a peak where nothing is."
    )

    def loss(self, raw: Any, boxes: list[torch.Tensor], labels: list[torch.Tensor]) -> torch.Tensor:
        return centernet_loss(raw, boxes, labels)

    def detect(self, raw: Any, top_k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return decode_centernet(raw, top_k)

    def score_map(self, raw: Any) -> torch.Tensor:
        """Per-class score logits on the finest grid (B, K, h, w)."""
        return raw["heatmap"]


def decode_centernet(
    out: dict[str, torch.Tensor], top_k: int = 100
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The `top_k` strongest peaks of each image: boxes (B, k, 4) as x0, y0, x1, y1 in input
    pixels, scores (B, k) and classes (B, k). No data-dependent shapes (exportable)."""
    heat = out["heatmap"].float().sigmoid()
    b, k_cls, h, w = heat.shape
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)  # local maxima only
    peaks = peaks.flatten(1)
    # On a flat (under-trained) heat map equal scores would let torch and onnxruntime pick
    # different, equally good cells; an offset of one float32 step per cell index makes
    # the order total, so both pick the same (scores within ~1e-4 count as equal anyway).
    rank = torch.arange(peaks.shape[1], device=peaks.device, dtype=peaks.dtype) * 2.0**-24
    flat = (peaks - rank).topk(min(top_k, k_cls * h * w), dim=1).indices  # (B, k)
    scores = peaks.gather(1, flat)
    classes = flat // (h * w)
    cell = flat % (h * w)
    ys, xs = (cell // w).float(), (cell % w).float()
    offset = out["offset"].float().flatten(2).gather(2, cell[:, None].expand(-1, 2, -1))
    size = out["size"].float().flatten(2).gather(2, cell[:, None].expand(-1, 2, -1))
    cx, cy = (xs + offset[:, 0]) * STRIDE, (ys + offset[:, 1]) * STRIDE
    bw, bh = size[:, 0].clamp(max=8).exp() * STRIDE, size[:, 1].clamp(max=8).exp() * STRIDE
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
    # Fewer peaks than k: the rest are zeros in any order; blank them so they are all alike.
    real = scores > 0
    return boxes * real[..., None], scores, classes * real


# ---- training targets and loss ------------------------------------------------------------
def gaussian_radius(
    height: torch.Tensor, width: torch.Tensor, overlap: float = 0.7
) -> torch.Tensor:
    """The radius (cells) within which a corner-shifted box still overlaps the true one by
    `overlap` IoU: CornerNet's three cases, the smallest wins (CenterNet's recipe)."""
    a1, b1 = 1, height + width
    c1 = width * height * (1 - overlap) / (1 + overlap)
    r1 = (b1 + torch.sqrt(b1**2 - 4 * a1 * c1)) / 2
    a2, b2 = 4, 2 * (height + width)
    c2 = (1 - overlap) * width * height
    r2 = (b2 + torch.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * overlap, -2 * overlap * (height + width)
    c3 = (overlap - 1) * width * height
    r3 = (b3 + torch.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


def centernet_targets(
    boxes: torch.Tensor, labels: torch.Tensor, num_classes: int, h: int, w: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One image's targets on the (h, w) output map: heat (K, h, w) with a Gaussian peak of
    exactly 1 at each centre, and per-centre cell index, log size and offset."""
    dev = boxes.device
    heat = torch.zeros(num_classes, h, w, device=dev)
    if len(boxes) == 0:
        empty = torch.zeros(0, device=dev)
        return heat, empty.long(), empty.view(0, 2), empty.view(0, 2)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 / STRIDE  # (n, 2) x, y in cells
    cell = centre.floor().long()
    cell[:, 0].clamp_(0, w - 1)
    cell[:, 1].clamp_(0, h - 1)
    bw = ((boxes[:, 2] - boxes[:, 0]) / STRIDE).clamp(min=1e-2)
    bh = ((boxes[:, 3] - boxes[:, 1]) / STRIDE).clamp(min=1e-2)
    sigma = (2 * gaussian_radius(bh, bw).floor().clamp(min=0) + 1) / 6  # (n,)
    ys = torch.arange(h, device=dev).view(1, h, 1)
    xs = torch.arange(w, device=dev).view(1, 1, w)
    d2 = (xs - cell[:, 0].view(-1, 1, 1)) ** 2 + (ys - cell[:, 1].view(-1, 1, 1)) ** 2
    peaks = torch.exp(-d2 / (2 * sigma.view(-1, 1, 1) ** 2))  # (n, h, w), 1 at the centre
    with warnings.catch_warnings():  # "index_reduce() is in beta": its amax is what we need
        warnings.simplefilter("ignore", UserWarning)
        heat.index_reduce_(0, labels.long(), peaks, "amax", include_self=True)
    index = cell[:, 1] * w + cell[:, 0]
    log_size = torch.stack([bw.log(), bh.log()], 1)
    offset = centre - cell.float()
    return heat, index, log_size, offset


def centernet_loss(
    raw: dict[str, torch.Tensor], boxes: list[torch.Tensor], labels: list[torch.Tensor]
) -> torch.Tensor:
    """Focal loss on the heat map (CenterNet's: alpha 2, beta 4) + L1 on log size and
    offset at the centres, each normalised by the number of objects."""
    logits = raw["heatmap"].float()
    b, k, h, w = logits.shape
    heats, size_loss, offset_loss, n = [], logits.new_zeros(()), logits.new_zeros(()), 0
    for i in range(b):
        heat, index, log_size, offset = centernet_targets(boxes[i], labels[i], k, h, w)
        heats.append(heat)
        if len(index):
            size_loss = size_loss + F.l1_loss(
                raw["size"][i].float().flatten(1)[:, index].T, log_size, reduction="sum"
            )
            offset_loss = offset_loss + F.l1_loss(
                raw["offset"][i].float().flatten(1)[:, index].T, offset, reduction="sum"
            )
            n += len(index)
    target = torch.stack(heats)
    pos = target.eq(1).float()
    p = logits.sigmoid()
    pos_term = F.logsigmoid(logits) * (1 - p) ** 2 * pos
    neg_term = F.logsigmoid(-logits) * p**2 * (1 - target) ** 4 * (1 - pos)
    focal = -(pos_term.sum() + neg_term.sum()) / max(n, 1)
    return focal + (size_loss + offset_loss) / max(n, 1)


@register_net("det.centernet", data_args=DATA_ARGS)
def det_centernet(
    *,
    in_channels: int,
    num_classes: int,
    widths: Widths = (32, 64, 128, 256),
    stem: StemWidth = 16,
    head: Annotated[int, "channels of the shared map and the heads"] = 48,
    norm: Annotated[Norm, "normalisation after each backbone convolution"] = "batch",
) -> CenterNet:
    """CenterNet: a heat map of object centres per class, with box sizes and offsets."""
    return CenterNet(
        in_channels=in_channels,
        num_classes=num_classes,
        widths=tuple(widths),
        stem=stem,
        head=head,
        norm=norm,
    )


class FCOSDetector(nn.Module):
    """torchvision's FCOS ("Fully Convolutional One-Stage", Tian et al. 2019) on the same
    strided stem and cnn.small stages as CenterNet, with torchvision's FPN over the last
    three stages (strides 8, 16, 32). Every point of every level predicts a class score, a
    centre-ness and the distances to the four sides of its box; a level answers for objects
    of its own size (torchvision's ranges: 4-8 x the level's anchor size).

    torchvision's own resizing and normalising transform is not used: the task feeds
    pictures at their training size, normalised, so nothing is resized to 800 px."""

    prefers_channels_last = True
    score_read = (
        "FCOS scores every point of each pyramid level for each class; shown is the finest "
        "level (1/8 of the picture), as the square root of class score x centre-ness, which "
        "is how FCOS ranks its boxes. A bright spot says 'a point near the middle of an "
        "object of this class'; each point also predicts how far its box reaches to the four "
        "sides, so nearby points vote for the same box and non-maximum suppression keeps one."
    )

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        stem: int = 16,
        head: int = 64,
        head_convs: int = 2,
        anchor_scale: float = 1.0,
        norm: Norm = "batch",
        backbone: str = "small",
        pretrained: bool = False,
        weights: str | None = None,
    ) -> None:
        super().__init__()
        from torchvision.models.detection.anchor_utils import AnchorGenerator
        from torchvision.models.detection.fcos import FCOS, FCOSHead
        from torchvision.ops import FeaturePyramidNetwork

        self.num_classes = num_classes
        self._levels: list[int] = []
        self._grid: tuple[int, int] = (0, 0)
        if backbone == "resnet50":
            self._resnet50(in_channels, num_classes, pretrained, weights)
            return
        if pretrained or weights is not None:
            raise ValueError(
                "pretrained weights exist for det.fcos with backbone=resnet50 (torchvision's "
                "COCO FCOS), not for the small backbone"
            )
        if len(widths) < 3:
            raise ValueError("det.fcos needs at least three stage widths, e.g. 32,64,128")
        self.stem, self.small = small_backbone(in_channels, stem, widths, norm)
        self.fpn = FeaturePyramidNetwork(list(widths[-3:]), head)
        # stage k ends at stride 2^(k+2): the last three stages are at these strides
        strides = [2 ** (len(widths) - 1 + k) for k in range(3)]
        sizes = tuple((max(1, round(s * anchor_scale)),) for s in strides)
        anchors = AnchorGenerator(sizes, ((1.0,),) * len(sizes))
        features = nn.Module()
        features.out_channels = head  # what FCOS checks; the features come from forward
        # FCOS keeps the head, the anchors, the matching and the losses; its transform and
        # backbone are never called.
        self.fcos = FCOS(
            features,
            num_classes,
            anchor_generator=anchors,
            head=FCOSHead(head, 1, num_classes, num_convs=head_convs),
        )

    def _resnet50(
        self, in_channels: int, num_classes: int, pretrained: bool, weights: str | None
    ) -> None:
        """torchvision's fcos_resnet50_fpn, from its COCO weights when asked (checked against
        torchvision's hash), with a new class layer for these classes."""
        from torchvision.models.detection import FCOS_ResNet50_FPN_Weights, fcos_resnet50_fpn

        from glassnet.nets.pretrained import pretrained_state

        if in_channels != 3:
            raise ValueError("det.fcos with backbone=resnet50 reads colour pictures (RGB)")
        self.fcos = fcos_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
        if pretrained or weights is not None:
            self.fcos.load_state_dict(pretrained_state(FCOS_ResNet50_FPN_Weights.COCO_V1, weights))
        cls = self.fcos.head.classification_head
        old = cls.cls_logits
        cls.cls_logits = nn.Conv2d(old.in_channels, num_classes, 3, padding=1)
        nn.init.normal_(cls.cls_logits.weight, std=0.01)
        nn.init.constant_(cls.cls_logits.bias, -math.log((1 - 0.01) / 0.01))
        cls.num_classes = num_classes

    @property
    def stages(self) -> list[nn.Module]:
        """The backbone's stages, input side first (not registered twice: a property)."""
        if hasattr(self, "small"):
            return list(self.small)
        body = self.fcos.backbone.body
        return [body.layer1, body.layer2, body.layer3, body.layer4]

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "small"):
            return self.stem(x)
        body = self.fcos.backbone.body
        return body.maxpool(body.relu(body.bn1(body.conv1(x))))

    def forward_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        return run_stages(self._stem(x), self.stages)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        from collections import OrderedDict

        if not hasattr(self, "small"):
            return list(self.fcos.backbone(x).values())  # P3-P7
        levels = self.forward_levels(x)[-3:]
        return list(self.fpn(OrderedDict((str(k), f) for k, f in enumerate(levels))).values())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        from torchvision.models.detection.image_list import ImageList

        features = self._features(x)
        out = self.fcos.head(features)  # cls_logits (B, N, K), bbox_regression, bbox_ctrness
        size = (int(x.shape[-2]), int(x.shape[-1]))
        anchors = self.fcos.anchor_generator(ImageList(x, [size] * x.shape[0]), features)
        self._levels = [int(f.shape[-2] * f.shape[-1]) for f in features]
        self._grid = tuple(int(v) for v in features[0].shape[-2:])
        return {**out, "anchors": torch.stack(anchors)}

    def loss(self, raw: Any, boxes: list[torch.Tensor], labels: list[torch.Tensor]) -> torch.Tensor:
        targets = [
            {"boxes": b.float(), "labels": c.long()} for b, c in zip(boxes, labels, strict=True)
        ]
        head = {k: raw[k].float() for k in ("cls_logits", "bbox_regression", "bbox_ctrness")}
        losses = self.fcos.compute_loss(targets, head, list(raw["anchors"]), self._levels)
        return sum(losses.values())  # type: ignore[return-value]

    def detect(self, raw: Any, top_k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The top_k (point, class) pairs by FCOS's score, sqrt(class x centre-ness), with the
        box each point predicts: (B, k, 4), (B, k), (B, k)."""
        scores = (
            raw["cls_logits"].float().sigmoid() * raw["bbox_ctrness"].float().sigmoid()
        ).sqrt()
        b, n, k_cls = scores.shape
        flat = scores.flatten(1)
        rank = torch.arange(flat.shape[1], device=flat.device, dtype=flat.dtype) * 2.0**-24
        top = (flat - rank).topk(min(top_k, n * k_cls), dim=1).indices  # ties: lower index
        point, classes = top // k_cls, top % k_cls
        pick = point[..., None].expand(-1, -1, 4)
        boxes = self.fcos.box_coder.decode(
            raw["bbox_regression"].float().gather(1, pick), raw["anchors"].float().gather(1, pick)
        )
        return boxes, flat.gather(1, top), classes

    def score_map(self, raw: Any) -> torch.Tensor:
        """The finest level's per-class score logits (B, K, h, w): logit of sqrt(p x c)."""
        h, w = self._grid
        n = h * w
        p = (raw["cls_logits"][:, :n].sigmoid() * raw["bbox_ctrness"][:, :n].sigmoid()).sqrt()
        logit = torch.logit(p.clamp(1e-6, 1 - 1e-6))
        return logit.view(-1, h, w, logit.shape[-1]).permute(0, 3, 1, 2)


@register_net("det.fcos", data_args=DATA_ARGS)
def det_fcos(
    *,
    in_channels: int,
    num_classes: int,
    widths: Widths = (32, 64, 128, 256),
    stem: StemWidth = 16,
    head: Annotated[int, "channels of the pyramid and the heads (a multiple of 16)"] = 64,
    head_convs: Annotated[int, "convolutions in each head before its output (FCOS: 4)"] = 2,
    anchor_scale: Annotated[
        float, "each level's object size as a multiple of its stride (which level answers)"
    ] = 1.0,
    norm: Annotated[Norm, "normalisation after each backbone convolution"] = "batch",
    backbone: Annotated[
        Literal["small", "resnet50"], "small: the cnn.small stages; resnet50: torchvision's"
    ] = "small",
    pretrained: Annotated[
        bool, "start from torchvision's COCO weights (resnet50; needs network or --weights)"
    ] = False,
    weights: Annotated[
        str | None, "a local copy of torchvision's fcos_resnet50_fpn COCO weights (hash-checked)"
    ] = None,
) -> FCOSDetector:
    """FCOS (torchvision): boxes from every point of a feature pyramid, no anchors to tune."""
    return FCOSDetector(
        in_channels=in_channels,
        num_classes=num_classes,
        widths=tuple(widths),
        stem=stem,
        head=head,
        head_convs=head_convs,
        anchor_scale=anchor_scale,
        norm=norm,
        backbone=backbone,
        pretrained=pretrained,
        weights=weights,
    )
