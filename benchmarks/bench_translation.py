"""English -> French numbers (builtin:numbers-en-fr, the same split and word vocabularies for
everyone): each contender trains for the same wall-clock budget, then greedy-decodes the test
split (numbers never seen in training); BLEU and chrF from sacrebleu, training tokens/s.

Contenders: glassnet (seq2seq.gru, Bahdanau attention), a minimal hand-written PyTorch
seq2seq with the same sizes and attention (plain, as a tutorial writes it, and tuned: fused
Adam, one loss over all steps; both validate after every epoch as glassnet does), no
dropout in any of them, and Keras 3's LSTM seq2seq recipe (encoder states -> decoder, no
attention; keras.io "sequence to sequence learning", word level) on the torch backend.
Interleaved rounds, each contender in its own process; medians with min-max.

    KERAS_BACKEND=torch python benchmarks/bench_translation.py   # -> results/translation.md
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import ROUNDS, entry, run_all, save, tables  # noqa: E402

BUDGET_S = float(os.environ.get("BENCH_BUDGET_S", 60))
EMBED, HIDDEN, BATCH, LR = 96, 192, 64, 3e-3


def _data() -> dict[str, Any]:
    """The glassnet task's own split and vocabularies, as plain tensors for everyone."""
    import glassnet
    from glassnet.config import build_spec
    from glassnet.tasks import get_task_class

    spec = build_spec("translation", {"data": "builtin:numbers-en-fr"})
    task = get_task_class("translation")(spec.data, seed=0)
    splits = task.load_data()
    _ = glassnet  # registers tasks
    return {
        "task": task,
        "train": splits.train.batch,
        "val": splits.val.batch,
        "test": splits.test.batch,
    }


def _bleu(task: Any, ids: Any, test: dict[str, Any]) -> dict[str, float]:
    import torch

    scores = task.score({"ids": ids.long(), "logprob": torch.zeros(len(ids))}, test)
    return {"bleu": scores["bleu"], "chrf": scores["chrf"], "exact": scores["exact"]}


def _tokens(batch: dict[str, Any]) -> int:
    return int((batch["tgt"][:, 1:] != 0).sum())


def run_glassnet() -> dict[str, Any]:
    import glassnet
    from glassnet.engine.callbacks import Callback

    class Budget(Callback):
        """Stops at the budget; also adds up the time between an epoch's last step and its
        end (validation by greedy decoding, checkpoint), which the loops do not spend."""

        def on_train_start(self, **_: Any) -> None:
            self.start = self.last_step = time.perf_counter()
            self.between_epochs = 0.0

        def on_step(self, **_: Any) -> None:
            self.last_step = time.perf_counter()
            if self.last_step - self.start > BUDGET_S:
                self.trainer.stop.requested = True

        def on_epoch_end(self, **_: Any) -> None:
            self.between_epochs += time.perf_counter() - self.last_step

    d = _data()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = glassnet.train(
            "translation",
            "builtin:numbers-en-fr",
            epochs=1000,  # stopped by the time budget
            patience=0,
            batch_size=BATCH,
            lr=LR,
            dropout=0.0,  # the loops have none: the net is held equal (0.1 costs ~10 %)
            schedule="constant",  # as the peers' Adam: a schedule over 1 000 epochs would
            warmup=0.0,  # still be warming up when the budget ends
            quiet=True,
            out=Path(tmp) / "r",
            callbacks=[budget := Budget()],
        )
        train_s = time.perf_counter() - start
        fit = run.fit
        assert fit is not None
        tokens_per_sample = _tokens(d["train"]) / len(d["train"]["tgt"])
        ids = run.task.forward(run.net, d["test"])["ids"]
    return {
        **_bleu(d["task"], ids, d["test"]),
        # its loop time includes validating (greedy decoding) after every epoch
        "tokens_per_s": fit.samples_seen / fit.train_seconds * tokens_per_sample,
        "tokens_per_s_steps": fit.samples_seen
        / (fit.train_seconds - budget.between_epochs)
        * tokens_per_sample,
        "epochs": fit.epochs_run,
        "train_s": train_s,
    }


def run_torch_loop(tuned: bool = False) -> dict[str, Any]:
    """Plain: as a tutorial writes it. Tuned: fused Adam, gradients set to None, one
    cross-entropy over all steps' logits, the epoch's order split as one tensor. Both
    validate after every epoch as glassnet does (greedy decoding of the validation split,
    sacreBLEU; the best epoch's weights are kept), so the work is held equal."""
    import copy

    import torch
    from torch import nn

    d = _data()
    train, test, st = d["train"], d["test"], d["task"].state()
    vs, vt = len(st["src_vocab"]), len(st["tgt_vocab"])

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.se, self.te = nn.Embedding(vs, EMBED, padding_idx=0), nn.Embedding(vt, EMBED)
            self.enc = nn.GRU(EMBED, HIDDEN, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(2 * HIDDEN, HIDDEN)
            self.q, self.k, self.v = (
                nn.Linear(HIDDEN, HIDDEN, bias=False),
                nn.Linear(2 * HIDDEN, HIDDEN),
                nn.Linear(HIDDEN, 1, bias=False),
            )
            self.cell = nn.GRUCell(EMBED + 2 * HIDDEN, HIDDEN)
            self.out = nn.Linear(HIDDEN + 2 * HIDDEN + EMBED, vt)

        def encode(self, src: Any) -> Any:
            enc, h = self.enc(self.se(src))  # padded steps are read too: the simple way
            return enc, self.k(enc), src != 0, torch.tanh(self.bridge(torch.cat([h[0], h[1]], -1)))

        def step(self, y: Any, h: Any, enc: Any, keys: Any, mask: Any) -> Any:
            e = self.te(y)
            s = self.v(torch.tanh(self.q(h)[:, None] + keys)).squeeze(-1)
            w = s.masked_fill(~mask, -1e9).softmax(-1)
            ctx = (w[..., None] * enc).sum(1)
            h = self.cell(torch.cat([e, ctx], -1), h)
            return self.out(torch.cat([h, ctx, e], -1)), h

    def greedy(src: Any) -> Any:
        net.eval()
        with torch.no_grad():
            enc, keys, mask, h = net.encode(src)
            y = torch.full((len(src),), 2)
            ids = []
            for _ in range(st["out_len"]):
                logits, h = net.step(y, h, enc, keys, mask)
                y = logits.argmax(-1)
                ids.append(y)
        net.train()
        return torch.stack(ids, 1)

    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=LR, fused=tuned or None)
    n, tokens, start, epochs = len(train["src"]), 0, time.perf_counter(), 0
    best, best_state, steps_s = -1.0, None, 0.0
    while time.perf_counter() - start < BUDGET_S:
        epoch_start = time.perf_counter()
        for idx in torch.randperm(n).split(BATCH):
            src, tgt = train["src"][idx], train["tgt"][idx]
            enc, keys, mask, h = net.encode(src)
            if tuned:
                steps = []
                for t in range(tgt.shape[1] - 1):
                    logits, h = net.step(tgt[:, t], h, enc, keys, mask)
                    steps.append(logits)
                loss = nn.functional.cross_entropy(
                    torch.stack(steps, 1).flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=0
                )
            else:
                loss = 0.0
                for t in range(tgt.shape[1] - 1):
                    logits, h = net.step(tgt[:, t], h, enc, keys, mask)
                    loss = loss + nn.functional.cross_entropy(
                        logits, tgt[:, t + 1], ignore_index=0, reduction="sum"
                    )
                loss = loss / (tgt[:, 1:] != 0).sum()
            opt.zero_grad(set_to_none=tuned)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            tokens += int((tgt[:, 1:] != 0).sum())
            if time.perf_counter() - start > BUDGET_S:
                break
        whole = time.perf_counter() - start <= BUDGET_S
        steps_s += time.perf_counter() - epoch_start
        if whole:  # a whole epoch: validate it, as glassnet does
            bleu = _bleu(d["task"], greedy(d["val"]["src"]), d["val"])["bleu"]
            if bleu > best:
                best, best_state = bleu, copy.deepcopy(net.state_dict())
            epochs += 1
    train_s = time.perf_counter() - start
    if best_state is not None:
        net.load_state_dict(best_state)
    return {
        **_bleu(d["task"], greedy(test["src"]), test),
        "tokens_per_s": tokens / train_s,
        "tokens_per_s_steps": tokens / steps_s,
        "epochs": epochs,
        "train_s": train_s,
    }


def run_keras() -> dict[str, Any]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import numpy as np
    import torch

    d = _data()
    train, test, st = d["train"], d["test"], d["task"].state()
    vs, vt = len(st["src_vocab"]), len(st["tgt_vocab"])
    latent = 256  # the recipe's size
    enc_in = keras.Input(shape=(None,), dtype="int32")
    enc_emb = keras.layers.Embedding(vs, EMBED, mask_zero=True)(enc_in)
    _, state_h, state_c = keras.layers.LSTM(latent, return_state=True)(enc_emb)
    dec_in = keras.Input(shape=(None,), dtype="int32")
    dec_emb_layer = keras.layers.Embedding(vt, EMBED, mask_zero=True)
    dec_lstm = keras.layers.LSTM(latent, return_sequences=True, return_state=True)
    dec_dense = keras.layers.Dense(vt, activation="softmax")
    dec_out, _, _ = dec_lstm(dec_emb_layer(dec_in), initial_state=[state_h, state_c])
    model = keras.Model([enc_in, dec_in], dec_dense(dec_out))
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="sparse_categorical_crossentropy")

    src = train["src"].numpy()
    tgt = train["tgt"].numpy()
    weights = (tgt[:, 1:] != 0).astype("float32")
    tokens_per_row = weights.sum(1)

    # One fit call per epoch on an order drawn here, so the tokens of exactly the batches
    # trained are counted (the budget stops mid-epoch); the clock runs inside the batches
    # only, so the harness's fit calls cost Keras nothing in tokens/s.
    class Budget(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.done = 0.0, 0

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            self.began = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.used += time.perf_counter() - self.began
            self.done = batch + 1
            if time.perf_counter() - start > BUDGET_S:
                self.model.stop_training = True

    budget, rng = Budget(), np.random.default_rng(0)
    tokens, epochs, start = 0.0, 0, time.perf_counter()
    while time.perf_counter() - start < BUDGET_S:
        order = rng.permutation(len(src))
        model.fit(
            [src[order], tgt[order, :-1]],
            tgt[order, 1:],
            sample_weight=weights[order],
            batch_size=BATCH,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=[budget],
        )
        tokens += float(tokens_per_row[order[: budget.done * BATCH]].sum())
        epochs += 1
    train_s = budget.used

    enc_model = keras.Model(enc_in, [state_h, state_c])
    h_in, c_in = keras.Input(shape=(latent,)), keras.Input(shape=(latent,))
    step_in = keras.Input(shape=(1,), dtype="int32")
    out, h, c = dec_lstm(dec_emb_layer(step_in), initial_state=[h_in, c_in])
    dec_model = keras.Model([step_in, h_in, c_in], [dec_dense(out), h, c])
    h, c = enc_model.predict(test["src"].numpy(), verbose=0, batch_size=512)
    y = np.full((len(h), 1), 2)
    ids = []
    for _ in range(st["out_len"]):
        probs, h, c = dec_model.predict([y, h, c], verbose=0, batch_size=512)
        y = probs[:, -1].argmax(-1)[:, None]
        ids.append(y[:, 0])
    return {
        **_bleu(d["task"], torch.tensor(np.stack(ids, 1)), test),
        "tokens_per_s": float(tokens) / train_s,
        "tokens_per_s_steps": float(tokens) / train_s,
        "epochs": epochs,
        "train_s": train_s,
    }


PLAIN, TUNED = "torch loop, plain", "torch loop, tuned (fused Adam, one loss)"
RUNNERS = {
    "glassnet": run_glassnet,
    PLAIN: run_torch_loop,
    TUNED: lambda: run_torch_loop(tuned=True),
    "keras": run_keras,
}


def main() -> None:
    import torch

    results = run_all(__file__, list(RUNNERS), env={"KERAS_BACKEND": "torch"}, rounds=ROUNDS)
    columns = [
        ("bleu", "BLEU", ".2f"),
        ("chrf", "chrF", ".2f"),
        ("exact", "exact match", ".3f"),
        ("tokens_per_s", "train tokens/s", ".0f"),
        ("tokens_per_s_steps", "the same, steps only", ".0f"),
        ("epochs", "epochs", ".0f"),
    ]
    text = (
        f"### Translation (numbers-en-fr, {BUDGET_S:.0f} s of training each, greedy decoding "
        f"of the 1 800 test numbers never seen in training; CPU, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads; medians of {ROUNDS} interleaved rounds, "
        "min-max in brackets; tokens counted exactly for the loops and Keras, as samples/s x "
        "mean target tokens per sample for glassnet; glassnet and the loops validate after "
        "every epoch, in the time of train tokens/s and not in 'steps only'; Keras does not)"
        "\n\n" + tables(results, columns, [PLAIN, TUNED], ratio_key="tokens_per_s")
    )
    save("translation", text, results)


if __name__ == "__main__":
    entry(RUNNERS, main)
