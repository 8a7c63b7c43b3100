"""Detectors on the same generated scenes: glassnet's det.centernet and det.fcos against
hand-written loops training exactly glassnet's det.fcos net (plain, and tuned with fused
AdamW and channels_last: the reference row), and a plain torchvision training loop
(torchvision's FCOS on a ResNet-18 FPN, built and trained the way its documentation shows;
a different, larger net), each in its own process, interleaved rounds: training images/s
and test mAP.

    python benchmarks/bench_detection.py        # writes benchmarks/results/detection.md
    GLASSNET_BENCH_ROUNDS=1 GLASSNET_BENCH_SKIP=torchvision python ...   # a quick look

ultralytics YOLO is not in the table: ultralytics 8.4 installs from the package index here,
but it requires opencv-python 5 (the GUI build), which replaces the `cv2` of our pinned
opencv-python-headless<5 in the same environment, and 5.x ships no Haar cascades (the
faces task's finder). It would need a virtual environment of its own; whether its training
then runs with no network (it fetches fonts on first use) has not been tried.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import ROUNDS, entry, run_all, save, table  # noqa: E402

N, SIZE, BATCH, EPOCHS, LR = 1500, 128, 32, 6, 2e-3
CACHE = Path(tempfile.gettempdir()) / "glassnet-bench-scenes"


def data() -> Path:
    """builtin:scenes at 128 px with its train / val / test folders, made once."""
    from glassnet.data.builtin_scenes import make_scenes

    if not (CACHE / "done").exists():
        make_scenes(CACHE / "scenes", n=N, size=SIZE)
        (CACHE / "done").write_text("ok")
    return CACHE / "scenes"


def _glassnet(net: str) -> dict[str, Any]:
    import glassnet

    run = glassnet.train(
        "detection",
        str(data()),
        net=net,
        image_size=SIZE,
        batch_size=BATCH,
        epochs=EPOCHS,
        lr=LR,
        patience=0,
        augment="off",  # the torchvision loop has none either
        quiet=True,
        out=tempfile.mkdtemp() + "/run",
    )
    fit, test = run.fit, run.metrics["test"]
    return {
        "images_per_s": fit.samples_seen / fit.train_seconds,  # type: ignore[union-attr]
        "map50": test["map50"],
        "map": test["map"],
        "loop_s": fit.train_seconds,  # type: ignore[union-attr]
    }


def run_centernet() -> dict[str, Any]:
    return _glassnet("det.centernet")


def run_fcos() -> dict[str, Any]:
    return _glassnet("det.fcos")


def _load_split(split: str) -> tuple[Any, list[Any], list[Any], list[str]]:
    """A split of the bench's scenes for the hand-written loops: uint8 pictures (N, 3, S,
    S), boxes (n, 4) and class indices per picture, and the class names."""
    import numpy as np
    import torch
    from PIL import Image

    from glassnet.data.detection import read_detection

    layout = read_detection(data())
    items = layout[split].items
    x = torch.stack(
        [
            torch.from_numpy(np.asarray(Image.open(i.path).convert("RGB"), np.uint8)).permute(
                2, 0, 1
            )
            for i in items
        ]
    )
    boxes = [torch.tensor(i.boxes, dtype=torch.float32).reshape(-1, 4) for i in items]
    labels = [torch.tensor(i.labels, dtype=torch.int64) for i in items]
    return x, boxes, labels, layout[split].classes


def _loop_result(n_train: int, loop_s: float, metric: Any) -> dict[str, Any]:
    scores = metric.compute()
    return {
        "images_per_s": EPOCHS * n_train / loop_s,
        "map50": float(scores["map_50"]),
        "map": float(scores["map"]),
        "loop_s": loop_s,
    }


def run_torchvision_loop() -> dict[str, Any]:
    """torchvision's FCOS with a ResNet-18 FPN backbone from scratch, its own transform told
    the pictures' size (else it resizes them to 800 px), AdamW, per-epoch validation loss
    left out (it only slows the loop), mAP on the test split at the end."""
    import torch
    from torchmetrics.detection import MeanAveragePrecision
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    xtr, btr, ltr, classes = _load_split("train")
    xte, bte, lte, _ = _load_split("test")
    # torchvision's detectors keep class 0 for the background
    ttr = [{"boxes": b, "labels": lab + 1} for b, lab in zip(btr, ltr, strict=True)]
    tte = [{"boxes": b, "labels": lab + 1} for b, lab in zip(bte, lte, strict=True)]
    torch.manual_seed(0)
    backbone = resnet_fpn_backbone(
        backbone_name="resnet18",
        weights=None,
        trainable_layers=5,
        returned_layers=[2, 3, 4],
        extra_blocks=LastLevelP6P7(256, 256),
    )
    model = FCOS(backbone, num_classes=len(classes) + 1, min_size=SIZE, max_size=SIZE)
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    start = time.perf_counter()
    for _ in range(EPOCHS):
        model.train()
        for idx in torch.randperm(len(xtr)).split(BATCH):
            images = [xtr[i].float() / 255 for i in idx]
            losses = model(images, [ttr[i] for i in idx])
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()  # type: ignore[union-attr]
            opt.step()
    loop_s = time.perf_counter() - start
    model.eval()
    metric = MeanAveragePrecision(iou_type="bbox", backend="faster_coco_eval")  # as glassnet scores
    with torch.no_grad():
        for idx in torch.arange(len(xte)).split(64):
            found = model([xte[i].float() / 255 for i in idx])
            metric.update(found, [tte[i] for i in idx])
    return _loop_result(len(xtr), loop_s, metric)


def _same_net_loop(tuned: bool) -> dict[str, Any]:
    """glassnet's own det.fcos net (same registry call, same normalisation, same loss and
    decoding), trained by a hand-written loop: what glassnet's trainer adds or costs, with
    the net held equal. Plain: AdamW as its docs show, NCHW tensors. Tuned: fused AdamW
    and channels_last, what a PyTorch expert would add."""
    import torch
    from torchmetrics.detection import MeanAveragePrecision
    from torchvision.ops import batched_nms

    from glassnet.nets import create_net

    xtr, btr, ltr, classes = _load_split("train")
    xte, bte, lte, _ = _load_split("test")
    mean = (xtr.float() / 255).mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
    std = (xtr.float() / 255).std(dim=(0, 2, 3)).view(1, 3, 1, 1)
    memory = torch.channels_last if tuned else torch.contiguous_format

    def inputs(x: torch.Tensor) -> torch.Tensor:
        return ((x.float() / 255 - mean) / std).contiguous(memory_format=memory)

    torch.manual_seed(0)
    net = create_net("det.fcos", in_channels=3, num_classes=len(classes))
    net = net.to(memory_format=memory)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, fused=tuned or None)
    start = time.perf_counter()
    for _ in range(EPOCHS):
        net.train()
        for idx in torch.randperm(len(xtr)).split(BATCH):
            raw = net(inputs(xtr[idx]))
            loss = net.loss(raw, [btr[i] for i in idx], [ltr[i] for i in idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    loop_s = time.perf_counter() - start
    net.eval()
    metric = MeanAveragePrecision(iou_type="bbox", backend="faster_coco_eval")  # as glassnet
    with torch.no_grad():
        for idx in torch.arange(len(xte)).split(64):
            boxes, scores, labels = net.detect(net(inputs(xte[idx])), top_k=100)
            found = []
            for b, sc, c in zip(boxes, scores, labels, strict=True):
                keep = sc >= 0.001
                b, sc, c = b[keep].clamp(0, SIZE), sc[keep], c[keep]
                keep = batched_nms(b, sc, c, 0.5)
                found.append({"boxes": b[keep], "scores": sc[keep], "labels": c[keep]})
            truth = [{"boxes": bte[i], "labels": lte[i]} for i in idx]
            metric.update(found, truth)
    return _loop_result(len(xtr), loop_s, metric)


def run_same_net_plain() -> dict[str, Any]:
    return _same_net_loop(tuned=False)


def run_same_net_tuned() -> dict[str, Any]:
    return _same_net_loop(tuned=True)


RUNNERS = {
    "glassnet det.centernet": run_centernet,
    "glassnet det.fcos": run_fcos,
    "hand loop, det.fcos net, plain": run_same_net_plain,
    "hand loop, det.fcos net, tuned (fused AdamW, channels_last)": run_same_net_tuned,
    "torchvision FCOS loop": run_torchvision_loop,
}


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> str:
    data()
    # torchvision's loop (a different, larger net: context, not the reference) runs once;
    # GLASSNET_BENCH_SKIP="torchvision" leaves it out altogether (9 minutes a round)
    skip = [s for s in os.environ.get("GLASSNET_BENCH_SKIP", "").split(",") if s]
    names = [n for n in RUNNERS if not any(s in n for s in skip)]
    results = run_all(__file__, names, rounds=ROUNDS, once=frozenset({"torchvision FCOS loop"}))
    text = (
        f"### Detection (builtin scenes, {N} pictures {SIZE}px, batch {BATCH}, {EPOCHS} epochs, "
        f"no augmentation, from scratch, CPU; {torch_threads()} torch threads; medians of "
        f"{ROUNDS} interleaved rounds, each contender in its own process)\n\n"
        + table(
            results,
            [
                ("images_per_s", "train images/s", ".1f"),
                ("map50", "test mAP@0.5", ".3f"),
                ("map", "test mAP@0.5:0.95", ".3f"),
                ("peak_rss_mb", "peak RSS MB", ".0f"),
            ],
            reference="hand loop, det.fcos net, tuned (fused AdamW, channels_last)",
            ratio_key="images_per_s",
        )
    )
    return save("detection", text, results)


if __name__ == "__main__":
    entry(RUNNERS, main)
