"""Object detection: find and box every object of the known classes, with a CNN (`det.*`).

Data: a COCO or YOLO layout (found automatically; `--format` to force), split by its own
folders (train / val / test) or by --val-fraction / --test-fraction. Pictures are stretched
to one square size with their boxes; training flips, zooms, shifts and colour-jitters them
(boxes follow). Metrics: mAP@0.5 (`map50`), mAP@0.5:0.95 (`map`, COCO's), per-class AP,
and precision / recall at the decode threshold.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from torch import nn

from glassnet.config import DataSpec, NetSpec
from glassnet.data.augment import BoxAugment
from glassnet.data.detection import (
    Annotated,
    DetectionFiles,
    DetectionSet,
    check_detection_images,
    read_detection,
)
from glassnet.data.images import (
    UnreadableImage,
    color_mode,
    decode_image,
    expand_inputs,
    load_stretched,
    pixel_stats,
    stats_sample,
)
from glassnet.data.splits import Batch, TensorSplit
from glassnet.errors import ConfigError, DataError
from glassnet.nets import create_net
from glassnet.nets.pretrained import PretrainedWeightsUnavailable
from glassnet.tasks import sources
from glassnet.tasks._base import (
    DataSplits,
    DecodeOptions,
    Encoded,
    StepOutput,
    Task,
    plain,
    register_task,
)
from glassnet.tasks.messages import MAX_FILES, ImagesRequest, Request, UploadedImage
from glassnet.tasks.splitting import split_indices

MIN_SCORE = 0.001  # detections kept for mAP (it ranks them; the threshold is for answers)
CALIBRATION_MIN_BOXES = 10  # true boxes in validation below which the threshold stays 0.3


class DetectionDataSpec(DataSpec):
    format: Literal["auto", "coco", "yolo"] = Field(
        "auto", description="the annotation layout (auto: data.yaml -> yolo, *.json -> coco)"
    )
    image_size: int | None = Field(
        None,
        ge=32,
        le=1024,
        description="square side the pictures are stretched to (default: from the data, "
        "a multiple of 32 up to 512)",
    )
    augment: Literal["on", "off"] = Field(
        "on", description="random flip, zoom, shift and colour jitter while training"
    )
    skip_bad: bool = Field(False, description="leave out bad boxes and unreadable images")


class DetectionDecoding(DecodeOptions):
    score_threshold: float = Field(
        0.3, ge=0, le=1, description="answers below this confidence are dropped"
    )
    nms_iou: float = Field(
        0.5, gt=0, le=1, description="boxes of one class overlapping more than this are merged"
    )
    max_detections: int = Field(100, ge=1, le=1000, description="most boxes per image")


@register_task
class DetectionTask(Task):
    """Pictures in, boxes with a class and a confidence out."""

    name: ClassVar[str] = "detection"
    data_spec: ClassVar[type[DataSpec]] = DetectionDataSpec
    default_net: ClassVar[str] = "det.centernet"
    # 15 epochs of the built-in scenes: ~6 minutes on 2 CPU cores, mAP@0.5 ~0.95
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 15,
        "batch_size": 32,
        "lr": 2e-3,
        "patience": 6,
        "monitor": "val_map",
    }
    # the built-in scenes' default run: ~33 steps an epoch x 15; 200 scenes (5 steps an
    # epoch) reached test mAP 0.18 with up to 60 epochs against 0.11 with 15
    min_steps: ClassVar[int] = 450
    calibrates: ClassVar[bool] = True  # the score threshold, on the validation pictures
    takes_objects: ClassVar[bool] = False
    decode_options: ClassVar[type[DecodeOptions]] = DetectionDecoding
    prediction_figure: ClassVar[str | None] = "boxes"
    evaluation_figure: ClassVar[str | None] = "boxes"
    export_outputs: ClassVar[tuple[str, ...]] = ("boxes", "scores", "labels")
    answer_keys: ClassVar[tuple[str, ...]] = ("boxes", "labels")

    def export_difference(self, eager: list[np.ndarray], exported: list[np.ndarray]) -> float:
        """The detections either engine would show (score above PARITY_FLOOR), matched as
        sets: the largest box or score difference from a detection to its counterpart of
        the same class (inf when one has none). Peak picking is a discrete choice: a heat
        map rounded a little differently by onnxruntime may swap two near-equal cells of
        an under-trained net, which an element-wise comparison called a 60 px mismatch."""
        worst = 0.0
        for i in range(len(eager[1])):
            a, b = [o[i] for o in eager[:3]], [o[i] for o in exported[:3]]
            # a detection just at the floor in one engine may sit just under it in the other
            worst = max(
                worst,
                _set_gap(_shown(a, PARITY_FLOOR), _shown(b, PARITY_FLOOR - 1e-3)),
                _set_gap(_shown(b, PARITY_FLOOR), _shown(a, PARITY_FLOOR - 1e-3)),
            )
        return worst

    export_requires: ClassVar[tuple[str, ...]] = ("pillow",)
    request_model = ImagesRequest
    spec: DetectionDataSpec

    def __init__(
        self, spec: DetectionDataSpec, state: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        super().__init__(spec, state, **kw)
        self._augment = BoxAugment()
        self._norm: tuple[torch.Tensor, torch.Tensor] | None = None

    # ---- data ----------------------------------------------------------------------------
    def _read(self, option: str) -> dict[str, DetectionSet] | None:
        src = self.source(option)
        if src is None:
            return None
        if src.path is None:
            raise ConfigError(
                f"detection data is read from a folder, not from {src.name}",
                fix="Pass a COCO or YOLO folder (see `glassnet data make scenes DIR`)",
            )
        return read_detection(src.path, self.spec.format, self.spec.skip_bad)

    def load_data(self) -> DataSplits:
        layout = self._read("data")
        assert layout is not None
        train_set = layout.get("train") or layout.get("all")
        if train_set is None:
            raise DataError(f"'{self.spec.data}' has no training split", fix="Add train/")
        given: dict[str, DetectionSet] = {k: v for k, v in layout.items() if k in ("val", "test")}
        for option in ("val", "test"):
            other = self._read(option)
            if other is not None:
                given[option] = next(iter(other.values()))
        train_set, check = check_detection_images(train_set, self.spec.skip_bad)
        classes = train_set.classes
        if not any(len(i.labels) for i in train_set.items):
            raise DataError(f"{train_set.source} has no boxes at all", fix="Add annotations")
        train_idx, val_idx, test_idx = split_indices(
            len(train_set.items),
            val_fraction=self.spec.val_fraction,
            test_fraction=self.spec.test_fraction,
            seed=self.seed,
            given=set(given),
        )
        size = self.spec.image_size or _auto_size(check.sizes)
        mode = color_mode(check.modes)
        files = DetectionFiles(train_set.items, size, mode)
        mean, std = pixel_stats(files.subset(stats_sample(train_idx, self.seed)))
        self._st = {
            "classes": classes,
            "image_size": size,
            "mode": mode,
            "mean": mean.tolist(),
            "std": np.maximum(std, 1e-3).tolist(),
            "augment": self.spec.augment == "on",
        }
        splits: dict[str, Any] = {}
        notes = list(train_set.notes)
        for key, idx in (("val", val_idx), ("test", test_idx)):
            if idx is not None:
                splits[key] = files.subset(idx)
            elif key in given:
                held, _ = check_detection_images(given[key], self.spec.skip_bad)
                if held.classes != classes:
                    raise DataError(
                        f"the classes of {held.source} differ from the training data's",
                        fix=f"Training classes: {', '.join(classes)}",
                    )
                notes += held.notes
                splits[key] = DetectionFiles(held.items, size, mode)
        boxes = sum(len(i.labels) for i in train_set.items)
        notes.append(
            f"{len(train_set.items)} images with {boxes} boxes of {len(classes)} classes "
            f"({', '.join(classes)}), stretched to {size}x{size} px, {mode}"
        )
        return DataSplits(
            train=files.subset(train_idx),
            val=splits.get("val"),
            test=splits.get("test"),
            notes=notes,
        )

    # ---- net -----------------------------------------------------------------------------
    def build_net(self, net: NetSpec) -> nn.Module:
        st = self.state()
        try:
            return create_net(
                net.name,
                in_channels=1 if st["mode"] == "L" else 3,
                num_classes=len(st["classes"]),
                **net.options,
            )
        except (PretrainedWeightsUnavailable, ValueError) as e:
            raise ConfigError(str(e), fix="See `glassnet list nets` for the options") from None

    def _normalise(self, x: torch.Tensor, net: nn.Module) -> torch.Tensor:
        st = self.state()
        if self._norm is None or self._norm[0].device != x.device:
            self._norm = (
                torch.tensor(st["mean"], device=x.device).view(1, -1, 1, 1),
                torch.tensor(st["std"], device=x.device).view(1, -1, 1, 1),
            )
        x = x.float() / 255 if x.dtype == torch.uint8 else x
        x = (x - self._norm[0]) / self._norm[1]
        if getattr(getattr(net, "module", net), "prefers_channels_last", False):
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def net_inputs(self, net: nn.Module, batch: Batch) -> tuple[torch.Tensor, ...]:
        return (self._normalise(batch["x"], net),)

    def forward(self, net: nn.Module, batch: Batch) -> dict[str, list[torch.Tensor]]:
        """Detections per image in the net's pixels: boxes (n, 4), scores (n,), labels (n,)
        (every score above MIN_SCORE, after non-maximum suppression)."""
        return self._detections(net(*self.net_inputs(net, batch)), net)

    def _detections(self, raw: Any, net: nn.Module) -> dict[str, list[torch.Tensor]]:
        from torchvision.ops import batched_nms

        opts = self.decoding
        detector = getattr(net, "module", net)  # every det.* net decodes its own outputs
        boxes, scores, classes = detector.detect(raw, top_k=opts.max_detections)  # type: ignore[attr-defined]
        out: dict[str, list[torch.Tensor]] = {"boxes": [], "scores": [], "labels": []}
        size = float(self.state()["image_size"])
        for b, s, c in zip(boxes, scores, classes, strict=True):
            keep = s >= MIN_SCORE
            b, s, c = b[keep].clamp(0, size), s[keep], c[keep]
            keep = batched_nms(b, s, c, opts.nms_iou)  # type: ignore[attr-defined]
            out["boxes"].append(b[keep])
            out["scores"].append(s[keep])
            out["labels"].append(c[keep])
        return out

    def step(self, net: nn.Module, batch: Batch) -> StepOutput:
        x, boxes, labels = batch["x"], batch["boxes"], batch["labels"]
        if net.training and self.state()["augment"]:
            x, boxes, labels = self._augment(x, boxes, labels)
        raw = net(self._normalise(x, net))
        loss = getattr(net, "module", net).loss(raw, boxes, labels)  # each det.* net's own
        outputs = raw if net.training else self._detections(raw, net)
        return StepOutput(loss=loss, outputs=outputs)

    # ---- answers -------------------------------------------------------------------------
    def decode(self, outputs: Any, batch: Batch) -> list[dict[str, Any]]:
        """Per image: the detections above the threshold, in the original picture's pixels."""
        classes = self.state()["classes"]
        threshold = self.decoding.score_threshold  # type: ignore[attr-defined]
        answers = []
        for boxes, scores, labels, scale in zip(
            outputs["boxes"], outputs["scores"], outputs["labels"], batch["scale"], strict=True
        ):
            keep = scores >= threshold
            original = boxes[keep] / scale.repeat(2)
            answers.append(
                {
                    "detections": [
                        {
                            "label": classes[int(c)],
                            "score": round(float(s), 4),
                            "box": [round(float(v), 1) for v in b],
                        }
                        for b, s, c in zip(original, scores[keep], labels[keep], strict=True)
                    ]
                }
            )
        return answers

    def to_frame(self, predictions: list[dict[str, Any]], encoded: Encoded) -> pd.DataFrame:
        """One row per detection: source, label, score, x0, y0, x1, y1 (original pixels)."""
        names = encoded.names or [str(i) for i in range(len(predictions))]
        rows = [
            {"source": n, "label": d["label"], "score": d["score"]}
            | dict(zip(("x0", "y0", "x1", "y1"), d["box"], strict=True))
            for n, p in zip(names, predictions, strict=True)
            for d in p["detections"]
        ]
        columns = ["source", "label", "score", "x0", "y0", "x1", "y1"]
        return pd.DataFrame(rows, columns=columns)

    def to_records(self, predictions: list[dict[str, Any]], encoded: Encoded) -> list[dict]:
        names = encoded.names or [None] * len(predictions)
        return [plain({"source": n, **p}) for n, p in zip(names, predictions, strict=True)]

    def calibrate(self, outputs: Any, batch: Batch) -> list[str]:
        """The score threshold answers are cut at: the one with the best F1 (precision and
        recall at IoU 0.5) on the validation pictures. A fixed 0.3 suits a detector
        trained long; one trained briefly or on few pictures can rank its boxes well
        (mAP) with every score under 0.3, and would answer nothing."""
        preds, truth = _metric_inputs(outputs, batch["boxes"], batch["labels"])
        scores, hit, total = _greedy_matches(preds, truth)
        default = DetectionDecoding.model_fields["score_threshold"].default
        if total < CALIBRATION_MIN_BOXES:
            return [
                f"the validation pictures hold {total} box(es), too few to choose a score "
                f"threshold from ({CALIBRATION_MIN_BOXES} at least), so it stays {default}"
            ]
        order = np.argsort(-scores, kind="stable")
        scores, tp = scores[order], np.cumsum(hit[order])
        fp = np.arange(1, len(scores) + 1) - tp
        f1 = 2 * tp / np.maximum(2 * tp + fp + (total - tp), 1)
        # A cut between equal scores is not one: only the last of each run of ties counts.
        # Never under PARITY_FLOOR: what is shown is what the export's parity check covers.
        last = np.append(scores[1:] != scores[:-1], True)[: len(scores)]
        gain = np.where(last & (scores >= np.float32(PARITY_FLOOR)), f1, 0.0)
        if not (gain > 0).any():
            return [
                f"no box of the validation pictures scored {PARITY_FLOOR} or more and matched "
                f"a true one, so the score threshold stays {default}; train longer or on more "
                "pictures"
            ]
        best = int(np.argmax(gain))
        # exactly that detection's (float32) score, so it stays above the cut
        self._st["score_threshold"] = threshold = float(scores[best])  # type: ignore[index]
        precision, recall = tp[best] / (best + 1), tp[best] / max(total, 1)
        return [
            f"score threshold {threshold:.3g}: the best F1 on the validation pictures "
            f"({f1[best]:.2f}; precision {precision:.2f}, recall {recall:.2f}); "
            "--score-threshold overrides it"
        ]

    def default_decoding(self) -> dict[str, Any]:
        """The threshold chosen on validation (runs made before it was: the default)."""
        chosen = self.state().get("score_threshold")
        return {} if chosen is None else {"score_threshold": chosen}

    def score(self, outputs: Any, batch: Batch) -> dict[str, float]:
        return detection_scores(
            outputs,
            batch["boxes"],
            batch["labels"],
            self.state()["classes"],
            self.decoding.score_threshold,  # type: ignore[attr-defined]
        )

    def class_labels(self) -> list[str] | None:
        return list(self.state()["classes"])

    def pictures(self, batch: Batch) -> torch.Tensor | None:
        return batch["x"]

    # ---- use -----------------------------------------------------------------------------
    def encode(self, source: Any, *, with_targets: bool) -> Encoded:
        st = self.state()
        if isinstance(source, list) and source and isinstance(source[0], UploadedImage):
            return self._encode_uploads(source)
        if with_targets:
            src = sources.open_source(source)
            if src.path is None:
                raise ConfigError("evaluate reads a COCO or YOLO folder", fix="Pass its path")
            layout = read_detection(src.path, self.spec.format, self.spec.skip_bad)
            data = layout.get("test") or layout.get("val") or next(iter(layout.values()))
            data, _ = check_detection_images(data, self.spec.skip_bad)
            if data.classes != st["classes"]:
                raise DataError(
                    f"the classes of {data.source} ({', '.join(data.classes)}) differ from "
                    "the model's",
                    fix=f"The model knows {', '.join(st['classes'])}",
                )
            notes = data.notes + [f"scored on {data.source}: {len(data.items)} images"]
            files = DetectionFiles(data.items, st["image_size"], st["mode"])
            return Encoded(files, notes, names=[str(i.path) for i in data.items])
        items = source if isinstance(source, (list, tuple)) else [source]
        paths = []
        for item in items:
            src = sources.open_source(item)
            if src.path is None:
                raise ConfigError(f"images are read from files, not from {src.name}")
            paths.append(str(src.path))
        listing = expand_inputs(paths)
        empty = [
            Annotated(p, np.zeros((0, 4), np.float32), np.zeros(0, np.int64)) for p in listing.paths
        ]
        data, _ = check_detection_images(
            DetectionSet(empty, st["classes"], listing.source), self.spec.skip_bad
        )
        files = DetectionFiles(data.items, st["image_size"], st["mode"])
        return Encoded(files, data.notes, names=[str(i.path) for i in data.items])

    def _encode_uploads(self, uploads: list[UploadedImage]) -> Encoded:
        st = self.state()
        xs, scales = [], []
        for up in uploads:
            try:
                pixels, (w, h) = decode_image(
                    up.data, st["image_size"], st["mode"], loader=load_stretched
                )
            except UnreadableImage as e:
                raise DataError(
                    f"upload '{up.name}' is not an image glassnet can read ({e})",
                    fix="Send PNG, JPEG, BMP, GIF, TIFF or WebP files",
                ) from None
            xs.append(pixels)
            scales.append([st["image_size"] / w, st["image_size"] / h])
        batch = {"x": torch.from_numpy(np.stack(xs)), "scale": torch.tensor(scales)}
        return Encoded(TensorSplit(batch), names=[u.name for u in uploads])

    def request_source(self, request: Request) -> Any:
        assert isinstance(request, ImagesRequest)
        return list(request.files)

    def describe_inputs(self) -> dict[str, Any]:
        st = self.state()
        return {
            "files": "encoded images (PNG, JPEG, BMP, GIF, TIFF, WebP) as multipart 'files'",
            "image_size": st["image_size"],
            "classes": st["classes"],
            "max_files": MAX_FILES,
        }

    # ---- export ----------------------------------------------------------------------------
    def export_module(self, net: nn.Module) -> nn.Module:
        st = self.state()
        return _ExportedDetector(net, st["mean"], st["std"], self.decoding.max_detections)  # type: ignore[attr-defined]

    def export_snippet(self) -> str:
        return DETECT_SNIPPET


def _auto_size(sizes: list[tuple[int, int]]) -> int:
    """The median longer side, a multiple of 32 between 64 and 512."""
    side = float(np.median([max(w, h) for w, h in sizes]))
    return int(min(max(round(side / 32) * 32, 64), 512))


# ---- metrics ----------------------------------------------------------------------------------
def detection_scores(
    outputs: dict[str, list[torch.Tensor]],
    boxes: list[torch.Tensor],
    labels: list[torch.Tensor],
    classes: list[str],
    threshold: float,
) -> dict[str, float]:
    """mAP@0.5, mAP@0.5:0.95 (torchmetrics with faster-coco-eval) and per-class AP@0.5:0.95,
    plus precision and recall of the detections above `threshold` at IoU 0.5."""
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(
        iou_type="bbox",
        backend="faster_coco_eval",
        class_metrics=True,
        max_detection_thresholds=[1, 10, 100],
    )
    preds, truth = _metric_inputs(outputs, boxes, labels)
    metric.update(preds, truth)
    r = metric.compute()
    result = {"map50": float(r["map_50"]), "map": float(r["map"]), "map75": float(r["map_75"])}
    per_class = r["map_per_class"].flatten().tolist()
    for cls_id, ap in zip(r["classes"].flatten().tolist(), per_class, strict=True):
        if 0 <= int(cls_id) < len(classes) and ap >= 0:
            result[f"ap_{classes[int(cls_id)]}"] = float(ap)
    result.update(_precision_recall(preds, truth, threshold))
    return {k: (v if math.isfinite(v) else 0.0) for k, v in result.items()}


def _metric_inputs(
    outputs: dict[str, list[torch.Tensor]], boxes: list[torch.Tensor], labels: list[torch.Tensor]
) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]]:
    """Detections and true boxes per image, as torchmetrics takes them."""
    preds = [
        {"boxes": b.float(), "scores": s.float(), "labels": c.long()}
        for b, s, c in zip(outputs["boxes"], outputs["scores"], outputs["labels"], strict=True)
    ]
    truth = [{"boxes": b.float(), "labels": c.long()} for b, c in zip(boxes, labels, strict=True)]
    return preds, truth


def _greedy_matches(
    preds: list[dict[str, torch.Tensor]], truth: list[dict[str, torch.Tensor]]
) -> tuple[np.ndarray, np.ndarray, int]:
    """Every detection's score and whether it matches a true box (greedy by score, IoU >=
    0.5, same class, each true box once), and the number of true boxes. The detections
    above any threshold are a prefix of each image's order, and greedy matching of a
    prefix is the prefix of the matching: these serve every threshold at once."""
    from torchvision.ops import box_iou

    scores: list[float] = []
    hits: list[bool] = []
    total = 0
    for p, t in zip(preds, truth, strict=True):
        total += len(t["labels"])
        order = p["scores"].argsort(descending=True, stable=True)
        scores += p["scores"][order].tolist()
        used = torch.zeros(len(t["labels"]), dtype=torch.bool)
        iou = box_iou(p["boxes"], t["boxes"]) if len(p["boxes"]) and len(t["boxes"]) else None
        for j in order.tolist():
            matched = False
            if iou is not None:
                same = (t["labels"] == p["labels"][j]) & ~used & (iou[j] >= 0.5)
                if same.any():
                    used[int(torch.where(same, iou[j], -1).argmax())] = True
                    matched = True
            hits.append(matched)
    return np.array(scores, dtype=np.float64), np.array(hits, dtype=bool), total


def _precision_recall(
    preds: list[dict[str, torch.Tensor]], truth: list[dict[str, torch.Tensor]], threshold: float
) -> dict[str, float]:
    """Precision and recall of the detections above `threshold` (see `_greedy_matches`)."""
    scores, hit, total = _greedy_matches(preds, truth)
    kept = scores >= np.float32(threshold)  # compared as the float32 scores were
    tp = int(hit[kept].sum())
    return {"precision": tp / max(int(kept.sum()), 1), "recall": tp / max(total, 1)}


# the export's parity check compares the detections above it (the threshold is applied after
# the graph, in Python, so a threshold chosen below it is still applied the same way)
PARITY_FLOOR = 0.1


def _shown(outputs: Any, floor: float) -> np.ndarray:
    """One image's (boxes, scores, labels) as rows [label, score, x0, y0, x1, y1] above
    `floor`."""
    boxes, scores, labels = outputs
    keep = scores > floor
    return np.column_stack([labels[keep], scores[keep], boxes[keep]]).astype(np.float64)


def _set_gap(a: np.ndarray, b: np.ndarray) -> float:
    """The largest distance from a row of `a` to the nearest row of `b` with its label."""
    worst = 0.0
    for row in a:
        same = b[b[:, 0] == row[0]]
        if not len(same):
            return float("inf")
        worst = max(worst, float(np.abs(same[:, 1:] - row[1:]).max(axis=1).min()))
    return worst


class _ExportedDetector(nn.Module):
    """The exported graph: uint8 pictures in; the top detections (boxes in the net's pixels,
    scores, class ids) out, peaks picked inside the graph; the threshold is applied after."""

    def __init__(self, net: nn.Module, mean: list[float], std: list[float], top_k: int) -> None:
        super().__init__()
        self.net, self.top_k = net, top_k
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raw = self.net((x.float() / 255 - self.mean) / self.std)
        return self.net.detect(raw, self.top_k)


DETECT_SNIPPET = """\
from PIL import Image

paths = sys.argv[1:] or ["image.png"]  # image files as arguments
S, threshold = prep["image_size"], prep.get("score_threshold", 0.3)  # chosen on validation


def load(path):
    im = Image.open(path).convert(prep["mode"])
    w, h = im.size
    a = np.asarray(im.resize((S, S), Image.Resampling.BILINEAR), dtype=np.uint8)
    return (a[None] if a.ndim == 2 else a.transpose(2, 0, 1)), (S / w, S / h)


loaded = [load(p) for p in paths]
x = np.stack([a for a, _ in loaded])  # uint8; the model normalises inside
boxes, scores, labels = session.run(None, {"x": x})
answer = []
for path, (_, (sx, sy)), b, s, c in zip(paths, loaded, boxes, scores, labels):
    keep = s >= threshold  # the model returns its strongest peaks; keep the confident ones
    answer.append({"source": path, "detections": [
        {"label": prep["classes"][int(k)], "score": round(float(v), 4),
         "box": [round(float(q), 1) for q in (bb / [sx, sy, sx, sy])]}
        for bb, v, k in zip(b[keep], s[keep], c[keep])]})
"""
