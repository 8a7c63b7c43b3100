"""Images task: classify pictures with a CNN (`cnn.*`).

Data: a folder with one sub-folder per class (or a CSV of path,label). Images are checked,
resized to one square size, held in memory as uint8, normalised with statistics of the
training split, and augmented on the fly (random resized crop, flip, light colour jitter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from glassnet.config import DataSpec, NetSpec
from glassnet.data.augment import BatchAugment
from glassnet.data.images import (
    ImageFiles,
    ImageList,
    UnreadableImage,
    check_images,
    color_mode,
    decode_image,
    expand_inputs,
    list_class_folders,
    pixel_stats,
    stats_sample,
)
from glassnet.data.splits import Batch, Split, TensorSplit
from glassnet.errors import ConfigError, DataError
from glassnet.nets import create_net
from glassnet.nets.pretrained import PretrainedWeightsUnavailable
from glassnet.tasks import sources
from glassnet.tasks._base import DataSplits, Encoded, StepOutput, Task, register_task
from glassnet.tasks.classification import (
    SOFTMAX_SNIPPET,
    class_ids,
    decode_classes,
    score_classes,
)
from glassnet.tasks.messages import MAX_FILES, ImagesRequest, Request, UploadedImage
from glassnet.tasks.splitting import split_indices

SMALLEST_AUGMENTED = 32  # "auto" augmentation is off below this size: crops would eat digits


class ImagesDataSpec(DataSpec):
    image_size: int | None = Field(
        None, ge=8, le=1024, description="square side in pixels (default: from the data, <= 128)"
    )
    augment: Literal["auto", "on", "off"] = Field(
        "auto", description="random crop/flip/colour jitter while training (auto: on from 32 px)"
    )
    skip_bad: bool = Field(False, description="skip unreadable images instead of stopping")


@register_task
class ImagesTask(Task):
    """Pictures in, a class out (cats vs dogs, digits, ...)."""

    name: ClassVar[str] = "images"
    data_spec: ClassVar[type[DataSpec]] = ImagesDataSpec
    default_net: ClassVar[str] = "cnn.small"
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 10}  # minutes, not hours, on a CPU
    takes_objects: ClassVar[bool] = False  # folders of files (or uploads when serving)
    export_requires: ClassVar[tuple[str, ...]] = ("pillow",)
    spec: ImagesDataSpec
    # cartoon pets, 1 600 pictures: 25 steps an epoch, 0.95 after 8 epochs; a folder of
    # 255 pictures takes 4 steps an epoch, so 10 epochs left it at 0.58-0.71 test accuracy
    # where 40 reached 1.0, and 190 drawn shapes reached 1.0 only after 43
    min_steps: ClassVar[int] = 300

    def __init__(
        self, spec: ImagesDataSpec, state: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        super().__init__(spec, state, **kw)
        self._augmenter: Any = None
        self._norm: tuple[torch.Tensor, torch.Tensor] | None = None

    # ---- data ----------------------------------------------------------------------------
    def _listing(self, option: str) -> ImageList | None:
        src = self.source(option)
        if src is None:
            return None
        if src.path is None:
            raise ConfigError(
                f"images are read from folders, not from {src.name}",
                fix="Pass a folder with one sub-folder per class (or a CSV of path,label)",
            )
        return list_class_folders(src.path)

    def load_data(self) -> DataSplits:
        images = self._listing("data")
        assert images is not None
        check = check_images(images, skip_bad=self.spec.skip_bad)
        paths = [images.paths[i] for i in check.good]
        assert images.labels is not None
        labels = [images.labels[i] for i in check.good]
        names = sorted(set(labels))
        mode = color_mode(check.modes)
        size = self.spec.image_size or _auto_size(check.sizes)
        y = np.array([names.index(lab) for lab in labels])

        given = {k: self._listing(k) for k in ("val", "test")}
        train_idx, val_idx, test_idx = split_indices(
            len(paths),
            val_fraction=self.spec.val_fraction,
            test_fraction=self.spec.test_fraction,
            seed=self.seed,
            labels=y,
            given={k for k, v in given.items() if v is not None},
        )
        if len(np.unique(y[train_idx])) < 2:
            raise DataError(
                f"the training split of {images.source} has a single class",
                fix="Add images of the other classes",
            )
        files = ImageFiles(paths, size, mode, y.tolist())
        mean, std = pixel_stats(files.subset(stats_sample(train_idx, self.seed)))
        counts = np.bincount(y[train_idx], minlength=len(names))
        weights = None
        if counts.max() / max(counts.min(), 1) > 10:
            weights = (counts.sum() / (len(names) * np.maximum(counts, 1))).tolist()
        augment = self.spec.augment == "on" or (
            self.spec.augment == "auto" and size >= SMALLEST_AUGMENTED
        )
        self._st = {
            "labels": names,
            "mode": mode,
            "image_size": size,
            "mean": mean.tolist(),
            "std": np.maximum(std, 1e-3).tolist(),
            "augment": augment,
            "class_weights": weights,
        }
        splits: dict[str, Split | None] = {}
        for key, idx in (("val", val_idx), ("test", test_idx)):
            listed = given[key]
            if idx is not None:
                splits[key] = files.subset(idx)
            elif listed is not None:
                splits[key] = self.encode(listed, with_targets=True).data
        notes = check.notes + [
            f"{len(paths)} images, {len(names)} classes, {mode}, "
            f"{size}x{size} px, augmentation {'on' if augment else 'off'}"
        ]
        return DataSplits(
            train=files.subset(train_idx),
            val=splits.get("val"),
            test=splits.get("test"),
            notes=notes,
        )

    @property
    def labels(self) -> list[str]:
        return list(self.state()["labels"])

    # ---- net -----------------------------------------------------------------------------
    def build_net(self, net: NetSpec) -> nn.Module:
        st = self.state()
        try:
            return create_net(
                net.name,
                in_channels=1 if st["mode"] == "L" else 3,
                num_outputs=len(st["labels"]),
                **net.options,
            )
        except PretrainedWeightsUnavailable as e:
            raise ConfigError(str(e)) from None

    def net_inputs(self, net: nn.Module, batch: Batch) -> tuple[torch.Tensor, ...]:
        """uint8 (B, C, S, S) -> augmented (training only), normalised float."""
        x = batch["x"]
        st = self.state()
        if net.training and st["augment"]:
            if self._augmenter is None:
                self._augmenter = self.augmenter(color=st["mode"] == "RGB")
            x = self._augmenter(x)
        else:
            x = x.float() / 255
        if self._norm is None or self._norm[0].device != x.device:
            mean = torch.tensor(st["mean"], device=x.device).view(1, -1, 1, 1)
            std = torch.tensor(st["std"], device=x.device).view(1, -1, 1, 1)
            self._norm = (mean, std)
        x = (x - self._norm[0]) / self._norm[1]
        if x.device.type in ("cuda", "cpu") and getattr(
            _unwrap(net), "prefers_channels_last", False
        ):
            x = x.contiguous(memory_format=torch.channels_last)
        return (x,)

    def augmenter(self, color: bool) -> BatchAugment:
        """The training-time recipe (a task whose inputs vary more may widen it)."""
        return BatchAugment(color=color)

    def pictures(self, batch: Batch) -> torch.Tensor | None:
        return batch["x"]

    def step(self, net: nn.Module, batch: Batch) -> StepOutput:
        out = self.forward(net, batch)
        weights = self.state().get("class_weights")
        w = torch.tensor(weights, device=out.device) if weights else None
        return StepOutput(loss=F.cross_entropy(out.float(), batch["y"], weight=w), outputs=out)

    # ---- serving ---------------------------------------------------------------------------
    request_model = ImagesRequest

    def request_source(self, request: Request) -> Any:
        assert isinstance(request, ImagesRequest)
        return list(request.files)

    def describe_inputs(self) -> dict[str, Any]:
        st = self.state()
        return {
            "files": "encoded images (PNG, JPEG, BMP, GIF, TIFF, WebP) as multipart 'files'",
            "image_size": st["image_size"],
            "mode": st["mode"],
            "max_files": MAX_FILES,
        }

    def class_labels(self) -> list[str] | None:
        return self.labels

    # ---- export ----------------------------------------------------------------------------
    def export_module(self, net: nn.Module) -> nn.Module:
        st = self.state()
        return _NormalisedImages(net, st["mean"], st["std"])

    def export_snippet(self) -> str:
        return IMAGE_SNIPPET + SOFTMAX_SNIPPET

    # ---- use -----------------------------------------------------------------------------
    def encode(self, source: Any, *, with_targets: bool) -> Encoded:
        if isinstance(source, list) and source and isinstance(source[0], UploadedImage):
            return self._encode_uploads(source)
        if isinstance(source, ImageList):
            images = source
        elif with_targets:
            images = list_class_folders(self._path_of(source))
        else:
            items = source if isinstance(source, (list, tuple)) else [source]
            images = expand_inputs([str(self._path_of(i)) for i in items])
        check = check_images(images, skip_bad=self.spec.skip_bad)
        paths = [images.paths[i] for i in check.good]
        targets = None
        if with_targets:
            assert images.labels is not None
            targets = self.target_ids([images.labels[i] for i in check.good], images.source)
        files = self.inference_files(paths, targets)
        return Encoded(files, check.notes, names=[str(p) for p in paths])

    def target_ids(self, labels: list[str], source: str) -> list[int]:
        """Labelled pictures' targets: the model's class numbers (a class it does not know
        is an error naming them)."""
        return class_ids(labels, self.state()["labels"], source)

    def inference_files(self, paths: list[Path], targets: list[int] | None) -> ImageFiles:
        """The pictures to predict or evaluate on, as the net reads them (faces: the face
        found in each)."""
        st = self.state()
        return ImageFiles(paths, st["image_size"], st["mode"], targets)

    def upload_pixels(self, data: bytes, name: str) -> np.ndarray:
        """An uploaded picture as (C, S, S) uint8 (faces: the face found in it)."""
        st = self.state()
        return decode_image(data, st["image_size"], st["mode"])

    @staticmethod
    def _path_of(value: Any) -> Path:
        src = sources.open_source(value)
        if src.path is None:
            raise ConfigError(
                f"images are read from files, not from {src.name}",
                fix="Pass image files, folders or glob patterns",
            )
        return src.path

    def _encode_uploads(self, uploads: list[UploadedImage]) -> Encoded:
        """Images sent as bytes (the REST service): decoded in memory, never written."""
        arrays = []
        for up in uploads:
            try:
                arrays.append(self.upload_pixels(up.data, up.name))
            except UnreadableImage as e:
                raise DataError(
                    f"upload '{up.name}' is not an image glassnet can read ({e})",
                    fix="Send PNG, JPEG, BMP, GIF, TIFF or WebP files",
                ) from None
        return Encoded(
            TensorSplit({"x": torch.from_numpy(np.stack(arrays))}), names=[u.name for u in uploads]
        )

    def decode(self, outputs: torch.Tensor, batch: Batch) -> list[dict[str, Any]]:
        return decode_classes(outputs, self.labels)

    def score(self, outputs: torch.Tensor, batch: Batch) -> dict[str, float]:
        return score_classes(outputs, batch["y"])


def _auto_size(sizes: list[tuple[int, int]]) -> int:
    """The median shorter side, kept between 8 and 128 px (CPU-friendly by default)."""
    side = int(np.median([min(w, h) for w, h in sizes]))
    return int(min(max(side, 8), 128))


def _unwrap(net: nn.Module) -> nn.Module:
    return getattr(net, "module", getattr(net, "_orig_mod", net))


class _NormalisedImages(nn.Module):
    """The exported graph: uint8 pixels (B, C, S, S) in, logits out; the normalisation
    fitted on the training split travels inside it."""

    def __init__(self, net: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x.float() / 255 - self.mean) / self.std)


# Plain-Python twin of data.images.load_image, for the export README (run by the tests).
IMAGE_SNIPPET = """\
from PIL import Image

paths = sys.argv[1:] or ["image.png"]  # image files as arguments
S, mode = prep["image_size"], prep["mode"]


def load(path):
    # shorter side to S (bilinear), centre crop; glassnet also puts transparent images on
    # white and scales 16-bit ones before converting
    im = Image.open(path).convert(mode)
    w, h = im.size
    k = S / min(w, h)
    nw, nh = max(S, round(w * k)), max(S, round(h * k))
    im = im.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - S) // 2, (nh - S) // 2
    a = np.asarray(im.crop((left, top, left + S, top + S)), dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (C, S, S)


x = np.stack([load(p) for p in paths])  # uint8; the model normalises inside
out = session.run(None, {"x": x})[0]
"""
