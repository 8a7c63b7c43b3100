"""The data-randomisation twin of a run (Adebayo et al. 2018, section 4): the same net trained
for a short while on the same inputs with their answers shuffled among them.

Such a net can only memorise; it learned nothing true about the data. A map that looks
alike for the real net and for this twin shows the inputs (or the architecture), not what
the answers taught. The twin is trained once per run and kept beside it in
`sanity/shuffled-labels.safetensors`, with the digest of the weights it was made for (a
resumed or retrained run gets a new twin).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from glassnet.data.files import atomic_write_json
from glassnet.data.splits import permute_answers
from glassnet.engine.checkpoint import load_weights, save_weights
from glassnet.engine.trainer import FitResult, Trainer
from glassnet.errors import GlassnetError
from glassnet.tasks import DataSplits, redraw_splits

TWIN_EPOCHS = 5  # at most: long enough to memorise a small set, short enough to wait for
TWIN_SEED_OFFSET = 7919  # another permutation and other initial weights than the run's


def twin_path(run: Any) -> Any:
    return run.path / "sanity" / "shuffled-labels.safetensors"


def _digest(run: Any) -> str:
    weights = run.path / "model.safetensors"
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:16] if weights.is_file() else ""


def load_twin(run: Any, digest: str | None = None) -> tuple[nn.Module | None, str]:
    """The cached twin of `run` (None when there is none for its current weights, whose
    `digest` is computed when not given), and a line saying what it is."""
    path = twin_path(run)
    about = path.with_suffix(".json")
    if not (path.is_file() and about.is_file()):
        return None, "no shuffled-label twin yet (`glassnet explain RUN` trains one)"
    info = json.loads(about.read_text(encoding="utf-8"))
    if info.get("weights") != (digest if digest is not None else _digest(run)):
        return None, "the shuffled-label twin was made for other weights of this run"
    torch.manual_seed(run.spec.seed + TWIN_SEED_OFFSET)
    twin = run.task.build_net(run.spec.net)
    load_weights(path, twin)
    return twin.to(run.device).eval(), _describe(info)


def _describe(info: dict[str, Any]) -> str:
    return (
        f"a copy trained {info['epochs']} epochs on the same inputs with shuffled answers "
        f"(train loss {info['train_loss']:.3g})"
    )


def train_twin(run: Any, say: Callable[[str], None] | None = None) -> tuple[nn.Module | None, str]:
    """The twin of `run`, trained now unless a current one is cached. (None, why) when the
    run's training data cannot be read again (moved files, a DataFrame no longer in memory)."""
    digest = _digest(run)  # read once: the weights file is hashed whole
    twin, line = load_twin(run, digest)
    if twin is not None:
        return twin, line
    epochs = min(TWIN_EPOCHS, max(1, int(run.metrics.get("epochs_run") or TWIN_EPOCHS)))
    try:
        splits = redraw_splits(
            run.spec, "train the shuffled-answer copy", GlassnetError, "", run.task.objects
        )
    except GlassnetError as e:
        return None, f"data randomisation skipped: {e}"
    if say is not None:
        say(
            "training a copy of the net on shuffled answers for the sanity check "
            f"({epochs} epoch{'s' if epochs > 1 else ''}, once per run)"
        )
    started = time.perf_counter()
    twin, fit = trained_on_shuffled_answers(run, splits, epochs, run.spec.seed + TWIN_SEED_OFFSET)
    info = {
        "epochs": fit.epochs_run,
        "train_loss": fit.last_metrics.get("train_loss", float("nan")),
        "seconds": round(time.perf_counter() - started, 1),
        "weights": digest,
    }
    path = twin_path(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_weights(path, twin)
    atomic_write_json(path.with_suffix(".json"), info)
    return twin.eval(), _describe(info)


def trained_on_shuffled_answers(
    run: Any, splits: DataSplits, epochs: int, seed: int
) -> tuple[nn.Module, FitResult]:
    """A fresh net of the run's kind and training settings, trained `epochs` epochs on the
    training split's inputs with their answers shuffled among them (no validation)."""
    spec = run.spec
    shuffled = permute_answers(splits.train, run.task.answer_keys, seed)
    torch.manual_seed(seed)
    net = run.task.build_net(spec.net)
    train = spec.train.model_copy(
        update={"epochs": epochs, "patience": 0, "compile": False, "checkpoint_every": 0}
    )
    fit = Trainer(run.task, net, train, seed=seed, device=run.device).fit(
        DataSplits(shuffled, None, None)
    )
    return net.eval(), fit
