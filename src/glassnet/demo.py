"""`glassnet demo`: the guided tour on built-in data, on CPU, in a minute or two.

One network of each family on the job it is known for: an ANN on a table, a CNN on images,
an RNN on a time series and an encoder-decoder RNN translating; then each is opened up on
one page, `<out>/index.html`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from glassnet import api
from glassnet.data.builtin import get_dataset
from glassnet.explain.report import write_sections
from glassnet.tasks.sources import cache_dir


def _section(title: str, text: str) -> None:
    print(f"\n=== {title}\n{text}\n", flush=True)


def _note(message: str) -> None:
    print(f"  ({message})", flush=True)


def run_demo(out: Path, quick: bool = False) -> dict[str, api.Run]:
    """Train each family on built-in data under `out` (a previous demo there is replaced)."""
    if out.exists() and (out / ".glassnet-demo").exists():
        shutil.rmtree(out)  # only ever a previous demo's folder
    out.mkdir(parents=True, exist_ok=True)
    (out / ".glassnet-demo").touch()
    runs: dict[str, api.Run] = {}

    _section(
        "The Brain in a Box, part 1: an ANN (multilayer perceptron) on a table",
        "builtin:customers - 5 000 made-up customers; who churned?",
    )
    runs["ann"] = api.train(
        "tabular",
        "builtin:customers",
        out=out / "ann",
        epochs=5 if quick else 20,
        hidden=(64, 32),
        onehot_max=16,  # every category one-hot: attributions stay complete
    )
    test = runs["ann"].metrics.get("test", {})
    print(
        f"ANN: test accuracy {test.get('accuracy', float('nan')):.3f}, "
        f"ROC-AUC {test.get('roc_auc', float('nan')):.3f}"
    )

    _section(
        "Part 2: a CNN (convolutional network) on pictures",
        "cartoon-pets - cat and dog faces drawn from ears, eyes, whiskers and snouts",
    )
    pets = get_dataset("cartoon-pets").make(
        cache_dir() / f"demo-pets-{400 if quick else 1200}", n=400 if quick else 1200, size=64
    )
    # 5x5 first filters from a small start: room to form edges and colour blobs, and far
    # enough to move from their noise in a few epochs (the filter view measures which)
    runs["cnn"] = api.train(
        "images",
        str(pets),
        out=out / "cnn",
        epochs=2 if quick else 6,
        widths=(16, 32, 64),
        first_kernel=5,
        first_init=0.2,
    )
    test = runs["cnn"].metrics.get("test", {})
    print(f"CNN: test accuracy {test.get('accuracy', float('nan')):.3f}")

    _section(
        "Part 3: an RNN (LSTM) on a time series",
        "builtin:co2 - weekly CO2 at Mauna Loa; forecast the next 52 weeks",
    )
    runs["rnn"] = api.train(
        "forecasting", "builtin:co2", out=out / "rnn", epochs=3 if quick else 25
    )
    test = runs["rnn"].metrics.get("test", {})
    qs = runs["rnn"].task.state()["quantiles"]
    print(
        f"RNN: backtest MASE {test.get('mase', float('nan')):.3f} vs seasonal naive "
        f"{test.get('seasonal_naive_mase', float('nan')):.3f} (lower is better); its "
        f"{qs[-1] - qs[0]:.0%} interval held {test.get('coverage', float('nan')):.0%} of the truth"
    )

    _section(
        "Part 4: an RNN that translates (encoder-decoder with attention)",
        "builtin:numbers-en-fr - English number phrases to French; scored on numbers it never saw",
    )
    runs["seq2seq"] = api.train(
        "translation", "builtin:numbers-en-fr", out=out / "seq2seq", epochs=1 if quick else 2
    )
    test = runs["seq2seq"].metrics.get("test", {})
    phrase = "seventy-one thousand, four hundred and five"
    said = runs["seq2seq"].predict([phrase])["translation"].iloc[0]
    print(f"seq2seq: test BLEU {test.get('bleu', float('nan')):.1f}; '{phrase}' -> '{said}'")

    _section("Looking inside", "filters, feature maps, where the nets looked, memory, attention")
    # The quick tour (CI's smoke run) checks the maps against randomised weights only: the
    # shuffled-answer twins would double its training time.
    sanity = "weights" if quick else "full"
    cats = [str(p) for p in sorted((pets / "cat").glob("*.png"))[:20]]
    cat = cats[int(runs["cnn"].predict(cats)["probability_cat"].to_numpy().argmax())]
    parts = [
        (
            "The ANN: neurons and weights",
            "A multilayer perceptron on the customer table.",
            runs["ann"].explain("builtin:customers", each=2, sanity=sanity, notify=_note).views,
        ),
        (
            "The CNN: edges, shapes, and where it looks on a cat",
            "A convolutional network trained on cartoon pets.",
            runs["cnn"].explain([str(cat)], sanity=sanity, notify=_note).views,
        ),
        (
            "The RNN: memory across the series",
            "An LSTM forecasting weekly CO2.",
            runs["rnn"].explain(sanity=sanity, notify=_note).views,
        ),
        (
            "The translating RNN: where it looked",
            "A GRU encoder-decoder with attention, English to French numbers.",
            sorted(  # the attention first: the view this part is about
                runs["seq2seq"]
                .explain([phrase, "nine hundred and ninety-nine"], sanity=sanity, notify=_note)
                .views,
                key=lambda v: not v.name.startswith("seq2seq-attention"),
            ),
        ),
    ]
    page = write_sections(
        parts, out, "The Brain in a Box", "Four networks trained on your CPU just now, opened up."
    )
    print(f"The tour: {page}")
    print("\nRuns:\n" + "\n".join(f"  {k.upper()}: {r.path}" for k, r in runs.items()))
    print(
        f"Next: glassnet evaluate {runs['cnn'].path} {pets}   (confusion matrix, mistakes)\n"
        f"      glassnet predict {runs['rnn'].path} --data builtin:co2 --out forecast.csv\n"
        f"      glassnet lab --runs {out}   (open the address it prints: compare the runs, "
        "look inside them, train your own)"
    )
    return runs
