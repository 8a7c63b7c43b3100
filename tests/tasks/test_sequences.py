"""Sequence classification: japanese-vowels (numeric, variable length) and text, with the
bad inputs a user meets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glassnet
from glassnet.errors import ConfigError, DataError

pytestmark = pytest.mark.xdist_group("sequences")  # its trained runs are built once


def test_japanese_vowels_reaches_095_on_the_standard_test_split(workdir: Path) -> None:
    accs = []
    for seed in (0, 1):
        run = glassnet.train(
            "sequences", "builtin:japanese-vowels", seed=seed, quiet=True, out=f"jv{seed}"
        )
        assert run.metrics["test"]
        accs.append(run.metrics["test"]["accuracy"])
    evaluated = run.evaluate("builtin:japanese-vowels")
    assert evaluated["n"] == 370  # the standard test split, never trained on
    assert np.mean(accs) >= 0.95, accs


@pytest.fixture(scope="module")
def reviews_run(tmp_path_factory: pytest.TempPathFactory) -> glassnet.api.Run:
    out = tmp_path_factory.mktemp("reviews") / "run"
    return glassnet.train("sequences", "builtin:toy-reviews", epochs=8, quiet=True, out=out)


def test_text_needs_word_order(reviews_run: glassnet.api.Run) -> None:
    assert reviews_run.metrics["test"]["accuracy"] >= 0.95
    preds = reviews_run.predict(
        ["the screen is great but the battery is not good", "the price is not bad"]
    )
    assert list(preds["label"]) == ["negative", "positive"]
    assert list(preds["source"])[1] == "the price is not bad"


def test_unknown_tokens_are_reported(reviews_run: glassnet.api.Run) -> None:
    reviews_run.predict(["the zebra is not good"])
    assert any("'zebra'" in n and "<unk>" in n for n in reviews_run.notes)


@pytest.mark.parametrize("tokens", ["char", "subword"])
def test_char_and_subword_tokens(tokens: str, workdir: Path) -> None:
    data = _reviews_csv(workdir / "r.csv")
    run = glassnet.train(
        "sequences",
        str(data),
        text="review",
        target="sentiment",
        tokens=tokens,
        epochs=15,
        quiet=True,
        out=tokens,
    )
    assert run.metrics["test"]["accuracy"] >= 0.85
    if tokens == "subword":
        state = run.task.state()["tokenizer"]
        assert state["kind"] == "subword" and len(state["sentencepiece"]) > 100  # data, not pickle
    texts = ["the screen is great", "the screen is awful"]
    assert list(run.predict(texts)["label"]) == ["pos", "neg"]
    assert list(glassnet.load(tokens).predict(texts)["label"]) == ["pos", "neg"]


def _reviews_csv(path: Path, extra: list[str] | None = None) -> Path:
    lines = ["review,sentiment"]
    for i in range(60):
        good = i % 2 == 0
        lines.append(f"the screen is {'great' if good else 'awful'},{'pos' if good else 'neg'}")
    path.write_text("\n".join(lines + (extra or [])) + "\n", encoding="utf-8")
    return path


def test_empty_texts_are_skipped_with_a_note(workdir: Path) -> None:
    data = _reviews_csv(workdir / "r.csv", ['"",pos', "the case is fine,"])
    run = glassnet.train(
        "sequences", str(data), text="review", target="sentiment", epochs=1, quiet=True
    )
    assert run.task.state()["labels"] == ["neg", "pos"]
    notes = run.task.load_data().notes  # what training printed as notes
    assert any(
        "r.csv' with an empty text or label were skipped (line 62, 63)" in n for n in notes
    ), notes


def test_mixed_encodings_name_the_line(workdir: Path) -> None:
    data = _reviews_csv(workdir / "r.csv")
    with data.open("ab") as f:
        f.write("the caf\u00e9 is great,pos\n".encode("cp1252"))
    with pytest.raises(DataError, match=r"line 62 of .*r.csv' is not UTF-8 .*Windows-1252"):
        glassnet.train("sequences", str(data), text="review", target="sentiment", quiet=True)


def test_long_sequences_are_truncated_or_refused(workdir: Path) -> None:
    data = _reviews_csv(workdir / "r.csv", ["the screen is great " * 20 + ",pos"])
    run = glassnet.train(
        "sequences",
        str(data),
        text="review",
        target="sentiment",
        max_len=10,
        epochs=1,
        quiet=True,
        test_fraction=0.0,
        val_fraction=0.0,
    )
    run.predict(["the screen is great " * 5])
    assert any("longer than --max-len 10 were truncated" in n for n in run.notes)
    with pytest.raises(DataError, match="has 80 tokens, more than --max-len 10"):
        glassnet.train(
            "sequences",
            str(data),
            text="review",
            target="sentiment",
            max_len=10,
            strict=True,
            quiet=True,
            out="strict",
        )


def test_numeric_sequences_from_a_frame_and_their_errors(workdir: Path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for sid in range(80):
        up = sid % 2 == 0
        for t in range(int(rng.integers(5, 15))):
            rows.append(
                {
                    "seq": sid,
                    "t": t,
                    "a": (t if up else -t) + rng.normal(0, 0.3),
                    "b": rng.normal(),
                    "label": "up" if up else "down",
                }
            )
    frame = pd.DataFrame(rows)
    run = glassnet.train(
        "sequences", frame, id="seq", time="t", target="label", epochs=10, quiet=True, out="num"
    )
    assert run.task.state()["channels"] == ["a", "b"]
    assert run.metrics["test"]["accuracy"] >= 0.9
    bad = frame.copy()
    bad.loc[3, "label"] = "down"
    with pytest.raises(DataError, match="sequence '0' has 2 different labels"):
        glassnet.train("sequences", bad, id="seq", time="t", target="label", quiet=True)
    with pytest.raises(ConfigError, match="--text COLUMN for text, or --id COLUMN"):
        glassnet.train("sequences", frame, target="label", quiet=True)


def test_one_sequence_per_file_in_class_folders(workdir: Path) -> None:
    rng = np.random.default_rng(1)
    for label, sign in (("up", 1), ("down", -1)):
        (workdir / "seqs" / label).mkdir(parents=True)
        for k in range(30):
            steps = np.arange(int(rng.integers(4, 12)))
            pd.DataFrame(
                {
                    "a": sign * steps + rng.normal(0, 0.3, len(steps)),
                    "b": rng.normal(size=len(steps)),
                }
            ).to_csv(workdir / "seqs" / label / f"{k}.csv", index=False)
    run = glassnet.train("sequences", "seqs", epochs=10, quiet=True, out="files")
    assert run.task.state()["labels"] == ["down", "up"]
    assert run.metrics["test"]["accuracy"] >= 0.9
    one = run.predict(str(workdir / "seqs" / "up" / "3.csv"))
    assert list(one["label"]) == ["up"] and list(one["source"]) == ["3.csv"]
    assert run.evaluate("seqs")["n"] == 60
