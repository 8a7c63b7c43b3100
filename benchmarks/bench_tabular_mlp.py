"""The same MLP, data, batch size and epochs through glassnet, hand-written PyTorch loops
(plain, as the tutorials write it, and tuned: fused Adam, gradients set to None, the
batch order drawn once per epoch as one tensor), Keras 3 (torch backend) and
scikit-learn's MLPClassifier: samples/s, accuracy, peak memory, and each one's share of
this machine's GEMM limit (measured in the same run). Contenders take turns, each round
in its own process; medians with min-max.

    python benchmarks/bench_tabular_mlp.py            # writes benchmarks/results/tabular_mlp.md
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    ROUNDS,
    add_gemm_share,
    entry,
    gemm_limit_gflops,
    run_all,
    save,
    step_gemm_ceiling,
    tables,
)

N_ROWS, N_FEATURES, HIDDEN, BATCH, EPOCHS, LR = 60_000, 40, (256, 128), 128, 5, 1e-3
# Multiply-adds per sample through the MLP; a training step costs ~3x the forward's
# 2 FLOPs per multiply-add (forward, gradient w.r.t. inputs, w.r.t. weights).
MACS = N_FEATURES * HIDDEN[0] + HIDDEN[0] * HIDDEN[1] + HIDDEN[1] * 2
TRAIN_FLOPS_PER_SAMPLE = 6 * MACS
# The matrix multiplies of one training step, (m, k, n): forward, the gradients w.r.t.
# the inputs of the second and third layers (the first's inputs need none), and w.r.t.
# every weight.
LAYERS = [(N_FEATURES, HIDDEN[0]), (HIDDEN[0], HIDDEN[1]), (HIDDEN[1], 2)]
STEP_GEMMS = (
    [(BATCH, i, o) for i, o in LAYERS]
    + [(BATCH, o, i) for i, o in LAYERS[1:]]
    + [(o, BATCH, i) for i, o in LAYERS]
)


def make_data() -> tuple[Any, Any, Any, Any]:
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    x, y = make_classification(
        n_samples=N_ROWS,
        n_features=N_FEATURES,
        n_informative=24,
        n_classes=2,
        class_sep=0.8,
        random_state=0,
    )
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    return train_test_split(x, y, test_size=0.2, random_state=0)


def run_glassnet() -> dict[str, Any]:
    import pandas as pd

    import glassnet

    xtr, xte, ytr, yte = make_data()
    frame = pd.DataFrame(xtr, columns=[f"f{i}" for i in range(N_FEATURES)])
    frame["y"] = ytr
    test = pd.DataFrame(xte, columns=frame.columns[:-1])
    test["y"] = yte
    start = time.perf_counter()
    run = glassnet.train(
        "tabular",
        frame,
        target="y",
        hidden=HIDDEN,
        dropout=0.0,
        batch_size=BATCH,
        epochs=EPOCHS,
        lr=LR,
        val_fraction=0.0,
        test_fraction=0.0,
        patience=0,
        schedule="constant",
        warmup=0.0,
        clip_grad=0.0,
        weight_decay=0.0,
        quiet=True,
        out=_tmp(),
    )
    wall = time.perf_counter() - start
    acc = run.evaluate(test)["accuracy"]
    # samples/s inside the training loop (as for the others); wall_s is the whole call,
    # preprocessing of the DataFrame, run files and the final evaluation included.
    return {"samples_per_s": run.metrics["samples_per_second"], "wall_s": wall, "accuracy": acc}


def _tmp() -> str:
    import tempfile

    return str(Path(tempfile.mkdtemp()) / "run")


def run_torch_loop(tuned: bool = False) -> dict[str, Any]:
    import torch
    from torch import nn

    xtr, xte, ytr, yte = make_data()
    torch.manual_seed(0)
    x, y = torch.tensor(xtr), torch.tensor(ytr)
    net = nn.Sequential(
        nn.Linear(N_FEATURES, HIDDEN[0]),
        nn.ReLU(),
        nn.Linear(*HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN[1], 2),
    )
    start_all = time.perf_counter()
    opt = torch.optim.Adam(net.parameters(), lr=LR, fused=tuned or None)
    start = time.perf_counter()
    for _ in range(EPOCHS):
        perm = torch.randperm(len(x))
        batches = (
            perm.split(BATCH) if tuned else [perm[i : i + BATCH] for i in range(0, len(x), BATCH)]
        )
        for idx in batches:
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    loop = time.perf_counter() - start
    with torch.no_grad():
        acc = (net(torch.tensor(xte)).argmax(1).numpy() == yte).mean()
    return {
        "samples_per_s": EPOCHS * len(xtr) / loop,
        "wall_s": time.perf_counter() - start_all,
        "accuracy": float(acc),
    }


def run_keras() -> dict[str, Any]:
    import keras

    xtr, xte, ytr, yte = make_data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((N_FEATURES,)),
            keras.layers.Dense(HIDDEN[0], activation="relu"),
            keras.layers.Dense(HIDDEN[1], activation="relu"),
            keras.layers.Dense(2),
        ]
    )
    # No per-step metric (the others compute none), and the clock runs from the first
    # batch to the last, as Keras' docs time training: its set-up is left out.
    model.compile(
        optimizer=keras.optimizers.Adam(LR),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            if not hasattr(self, "start"):
                self.start = time.perf_counter()

        def on_train_end(self, logs: Any = None) -> None:
            self.stop = time.perf_counter()

    clock = Clock()
    start = time.perf_counter()
    model.fit(xtr, ytr, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[clock])
    wall = time.perf_counter() - start
    logits = model.predict(xte, batch_size=1024, verbose=0)
    acc = (logits.argmax(1) == yte).mean()
    return {
        "samples_per_s": EPOCHS * len(xtr) / (clock.stop - clock.start),
        "wall_s": wall,
        "accuracy": float(acc),
    }


def run_sklearn() -> dict[str, Any]:
    from sklearn.neural_network import MLPClassifier

    xtr, xte, ytr, yte = make_data()
    model = MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        batch_size=BATCH,
        max_iter=EPOCHS,
        learning_rate_init=LR,
        alpha=0.0,
        random_state=0,
        tol=0,
        n_iter_no_change=EPOCHS + 1,
    )
    start = time.perf_counter()
    model.fit(xtr, ytr)
    wall = time.perf_counter() - start
    return {
        "samples_per_s": EPOCHS * len(xtr) / wall,
        "wall_s": wall,
        "accuracy": float(model.score(xte, yte)),
    }


PLAIN, TUNED = "torch loop, plain", "torch loop, tuned (fused Adam)"
RUNNERS = {
    "glassnet": run_glassnet,
    PLAIN: run_torch_loop,
    TUNED: lambda: run_torch_loop(tuned=True),
    "keras 3 (torch)": run_keras,
    "sklearn MLPClassifier": run_sklearn,
}


def main() -> str:
    print(
        f"tabular MLP: {N_ROWS} rows x {N_FEATURES} features, MLP {HIDDEN}, batch {BATCH}, "
        f"{EPOCHS} epochs",
        file=sys.stderr,
    )
    import torch

    limit = gemm_limit_gflops()
    ceiling = step_gemm_ceiling(STEP_GEMMS, BATCH)
    results = run_all(__file__, list(RUNNERS), env={"KERAS_BACKEND": "torch"}, rounds=ROUNDS)
    add_gemm_share(results, TRAIN_FLOPS_PER_SAMPLE, limit)
    # the step's own ceiling as a rate of its FLOPs, so its share reads as the GEMM limit's
    step_gflops = ceiling * TRAIN_FLOPS_PER_SAMPLE / 1e9
    add_gemm_share(results, TRAIN_FLOPS_PER_SAMPLE, step_gflops, key="step_gemm_share")
    columns = [
        ("samples_per_s", "samples/s", ".0f"),
        ("gemm_share", "% of GEMM limit", ".1f"),
        ("step_gemm_share", "% of the step's own GEMMs", ".1f"),
        ("wall_s", "wall s", ".2f"),
        ("accuracy", "test accuracy", ".4f"),
        ("peak_rss_mb", "peak RSS MB", ".0f"),
    ]
    text = (
        f"### Tabular MLP ({N_ROWS * 4 // 5} training rows x {N_FEATURES}, MLP "
        f"{HIDDEN}, batch {BATCH}, {EPOCHS} epochs, CPU, {torch.get_num_threads()} torch "
        f"threads; medians of {ROUNDS} interleaved rounds, min-max in brackets; GEMM limit "
        f"{limit:.0f} GFLOP/s measured in this run, a training sample costs "
        f"{TRAIN_FLOPS_PER_SAMPLE / 1e3:.0f} kFLOP; the step's own {len(STEP_GEMMS)} matrix "
        f"multiplies at batch {BATCH}, timed alone back to back, allow {ceiling:.0f} "
        f"samples/s ({step_gflops / limit:.0%} of the GEMM "
        f"limit): a step with no other work could not be faster)\n\n"
        + tables(results, columns, [PLAIN, TUNED], ratio_key="samples_per_s")
    )
    return save("tabular_mlp", text, results)


if __name__ == "__main__":
    entry(RUNNERS, main)
