"""The same CNN on the same images through glassnet, hand-written PyTorch loops (plain, as
the tutorials write it, and tuned) and Keras 3 (torch backend): training samples/s, its
share of this machine's GEMM limit, and wall time to a target validation accuracy.

    python benchmarks/bench_images_cnn.py        # writes benchmarks/results/images_cnn.md
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    ROUNDS,
    add_gemm_share,
    entry,
    gemm_limit_gflops,
    run_all,
    save,
    step_conv_ceiling,
    tables,
    train_flops_per_sample,
)

N, SIZE, WIDTHS, BATCH, EPOCHS, LR, TARGET = 2000, 64, (32, 64, 128), 64, 6, 3e-3, 0.9
CACHE = Path(tempfile.gettempdir()) / "glassnet-bench-pets"


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Path]:
    """cartoon-pets as uint8 arrays (N, 3, S, S) with a fixed 80/20 split, made once."""
    from glassnet.data.builtin_images import make_cartoon_pets
    from glassnet.data.images import list_class_folders, load_images

    npz = CACHE / "arrays.npz"
    if not npz.exists():
        folder = make_cartoon_pets(CACHE / "folder", n=N, size=SIZE, seed=0)
        listed = list_class_folders(folder)
        x = load_images(listed.paths, SIZE, "RGB")
        y = np.array([0 if lab == "cat" else 1 for lab in listed.labels or []])
        order = np.random.default_rng(0).permutation(len(x))
        np.savez(npz, x=x[order], y=y[order])
    arrays = np.load(npz)
    cut = int(0.8 * N)
    return arrays["x"][:cut], arrays["y"][:cut], arrays["x"][cut:], arrays["y"][cut:], CACHE


def _result(times: list[float], accs: list[float], n_train: int, loop_s: float) -> dict[str, Any]:
    hit = next((t for t, a in zip(times, accs, strict=True) if a >= TARGET), float("nan"))
    return {
        "samples_per_s": EPOCHS * n_train / loop_s,
        "time_to_target_s": hit,
        "final_val_accuracy": accs[-1],
        "loop_s": loop_s,
    }


def run_glassnet() -> dict[str, Any]:
    import pandas as pd  # noqa: F401
    import torch

    import glassnet
    from glassnet.engine.callbacks import Callback

    xtr, ytr, xva, yva, root = data()
    # glassnet reads folders: write the same split as two folder trees, once.
    split = root / "split"
    if not split.exists():
        from PIL import Image

        for name, xs, ys in (("train", xtr, ytr), ("val", xva, yva)):
            for i, (img, lab) in enumerate(zip(xs, ys, strict=True)):
                d = split / name / ("cat" if lab == 0 else "dog")
                d.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img.transpose(1, 2, 0)).save(d / f"{i}.png")

    class Clock(Callback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.accs: list[float] = []

        def on_train_start(self, **_: Any) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, *, metrics: dict[str, float], **_: Any) -> None:
            self.times.append(time.perf_counter() - self.start)
            self.accs.append(metrics["val_accuracy"])

    clock = Clock()
    torch.manual_seed(0)
    run = glassnet.train(
        "images",
        str(split / "train"),
        val=str(split / "val"),
        test_fraction=0.0,
        widths=WIDTHS,
        dropout=0.0,
        batch_size=BATCH,
        epochs=EPOCHS,
        lr=LR,
        schedule="constant",
        warmup=0.0,
        clip_grad=0.0,
        weight_decay=0.0,
        augment="off",
        patience=0,
        quiet=True,
        callbacks=[clock],
        out=tempfile.mkdtemp() + "/run",
    )
    out = _result(clock.times, clock.accs, len(xtr), run.fit.train_seconds)  # type: ignore[union-attr]
    out["precision"] = run.metrics["train_precision"]  # its default on this machine
    # glassnet's loop time includes its per-epoch validation; so do the others below.
    return out


def make_net() -> Any:
    """The CNN every PyTorch contender trains (glassnet builds the same blocks itself)."""
    from torch import nn

    layers: list[nn.Module] = []
    c = 3
    for w in WIDTHS:
        layers += [
            nn.Conv2d(c, w, 3, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        c = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 2))


def run_torch_loop(tuned: bool = False, bf16: bool = False) -> dict[str, Any]:
    """Plain: as the tutorials write it (uint8 batches normalised per step, Adam). Tuned:
    the whole split normalised once in channels_last, fused Adam, gradients set to None,
    the epoch's order split into batches as one tensor; with `bf16`, its forward passes
    under bf16 autocast as well, validation included (weights and optimiser in fp32)."""
    import torch
    from torch import nn

    xtr, ytr, xva, yva, _ = data()
    torch.manual_seed(0)
    net = make_net()
    x = torch.tensor(xtr)
    y = torch.tensor(ytr)
    mean = (x.float() / 255).mean((0, 2, 3), keepdim=True)
    std = (x.float() / 255).std((0, 2, 3), keepdim=True)
    xv = (torch.tensor(xva).float() / 255 - mean) / std
    if tuned:
        net = net.to(memory_format=torch.channels_last)
        x = ((x.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)
        xv = xv.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=LR, fused=tuned or None)
    times, accs = [], []
    start = time.perf_counter()
    for _ in range(EPOCHS):
        net.train()
        perm = torch.randperm(len(x))
        for idx in perm.split(BATCH):
            xb = x[idx] if tuned else (x[idx].float() / 255 - mean) / std
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = nn.functional.cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=tuned)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            pred = torch.cat([net(xv[i : i + 256]).argmax(1) for i in range(0, len(xv), 256)])
        accs.append(float((pred.numpy() == yva).mean()))
        times.append(time.perf_counter() - start)
    return {**_result(times, accs, len(xtr), times[-1]), "precision": "bf16" if bf16 else "fp32"}


def run_keras() -> dict[str, Any]:
    import keras

    xtr, ytr, xva, yva, _ = data()
    keras.utils.set_random_seed(0)
    xt = xtr.transpose(0, 2, 3, 1).astype("float32") / 255
    mean, std = xt.mean((0, 1, 2)), xt.std((0, 1, 2))
    xt = (xt - mean) / std
    xv = (xva.transpose(0, 2, 3, 1).astype("float32") / 255 - mean) / std
    layers: list[Any] = [keras.Input((SIZE, SIZE, 3))]
    for w in WIDTHS:
        layers += [
            keras.layers.Conv2D(w, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Conv2D(w, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
        ]
    model = keras.Sequential(
        [*layers, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(LR),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    # As Keras' docs time training: from the first batch (set-up left out), no per-step
    # metric (the others compute none); validation accuracy once per epoch, as the others.
    class Clock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []
            self.accs: list[float] = []

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            if not hasattr(self, "start"):
                self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logits = self.model.predict(xv, batch_size=256, verbose=0)
            self.accs.append(float((logits.argmax(1) == yva).mean()))
            self.times.append(time.perf_counter() - self.start)

    clock = Clock()
    model.fit(xt, ytr, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[clock])
    return {**_result(clock.times, clock.accs, len(xtr), clock.times[-1]), "precision": "fp32"}


PLAIN, TUNED = "torch loop, plain", "torch loop, tuned (fused Adam, channels_last)"
TUNED_BF16 = "torch loop, tuned + bf16 autocast"
RUNNERS = {
    "glassnet": run_glassnet,
    PLAIN: run_torch_loop,
    TUNED: lambda: run_torch_loop(tuned=True),
    TUNED_BF16: lambda: run_torch_loop(tuned=True, bf16=True),
    "keras 3 (torch)": run_keras,
}


def main() -> str:
    import torch

    from glassnet.engine.device import cpu_has_native_bf16

    data()  # make the shared arrays before timing anything
    # Without native bf16 (AVX512-BF16 or AMX) oneDNN emulates it at a fraction of fp32's
    # speed, glassnet trains in fp32, and the bf16 row would only measure the emulation.
    bf16 = cpu_has_native_bf16()
    precisions = {"fp32": torch.float32, **({"bf16": torch.bfloat16} if bf16 else {})}
    names = [n for n in RUNNERS if bf16 or n != TUNED_BF16]
    limits = {p: gemm_limit_gflops(dtype=d) for p, d in precisions.items()}
    x, y = torch.randn(BATCH, 3, SIZE, SIZE), torch.zeros(BATCH, dtype=torch.long)
    flops = train_flops_per_sample(make_net(), x, y)
    # GFLOP/s of the step's own convolutions, timed now as the limits are.
    conv_gflops = {
        p: step_conv_ceiling(make_net(), x, d) * flops / 1e9 for p, d in precisions.items()
    }
    results = run_all(__file__, names, env={"KERAS_BACKEND": "torch"}, rounds=ROUNDS)
    add_gemm_share(results, flops, limits)
    add_gemm_share(results, flops, conv_gflops, key="step_conv_share")
    columns = [
        ("samples_per_s", "train samples/s", ".1f"),
        ("precision", "precision", "s"),
        ("gemm_share", "% of GEMM limit", ".1f"),
        ("step_conv_share", "% of the step's own convs", ".1f"),
        ("time_to_target_s", f"s to val acc {TARGET}", ".1f"),
        ("final_val_accuracy", "final val acc", ".3f"),
        ("peak_rss_mb", "peak RSS MB", ".0f"),
    ]
    measured = ", ".join(
        f"{p} {limits[p]:.0f} GFLOP/s (its own convs {conv_gflops[p]:.0f}, "
        f"{conv_gflops[p] * 1e9 / flops:.0f} samples/s)"
        for p in precisions
    )
    text = (
        f"### Images CNN (cartoon-pets, {int(0.8 * N)} training images {SIZE}px RGB, "
        f"conv widths {WIDTHS}, batch {BATCH}, {EPOCHS} epochs with validation after each, "
        f"no augmentation, CPU, {torch.get_num_threads()} torch threads; medians of {ROUNDS} "
        f"interleaved rounds, min-max in brackets; GEMM limits measured in this run: "
        f"{measured}; each row against its precision's; a training sample costs "
        f"{flops / 1e6:.0f} MFLOP"
        + ("" if bf16 else "; no bf16 row: this CPU has no native bf16")
        + ")\n\n"
        + tables(results, columns, [PLAIN, TUNED], ratio_key="samples_per_s")
    )
    return save("images_cnn", text, results)


if __name__ == "__main__":
    entry(RUNNERS, main)
