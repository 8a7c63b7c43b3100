"""Translation: English -> French numbers generalise to numbers never seen in training;
beam search; save/load; the pair-file errors; FreeDict pairs."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import glassnet
from glassnet.data.builtin_text import _B64, read_freedict
from glassnet.errors import DataError

pytestmark = pytest.mark.xdist_group("translation")  # its trained runs are built once


@pytest.fixture(scope="module")
def en_fr(tmp_path_factory: pytest.TempPathFactory) -> glassnet.api.Run:
    out = tmp_path_factory.mktemp("en-fr") / "run"
    return glassnet.train("translation", "builtin:numbers-en-fr", epochs=3, quiet=True, out=out)


def test_unseen_numbers_translate_with_bleu_over_90(en_fr: glassnet.api.Run) -> None:
    scores = en_fr.evaluate()  # the run's own test split: numbers never in training
    assert any("never seen in training" in n for n in en_fr.notes)
    assert scores["n"] == 1800
    assert scores["bleu"] >= 90 and scores["chrf"] >= 90
    from num2words import num2words

    numbers = [312, 99_900, 80_080]
    preds = en_fr.predict([num2words(n) for n in numbers])
    assert list(preds["translation"]) == [num2words(n, lang="fr") for n in numbers]


def test_the_constant_floor_is_the_most_common_reference_everywhere(
    en_fr: glassnet.api.Run,
) -> None:
    import sacrebleu

    from glassnet.tasks.translation import _constant_bleu

    common = "quatre vingt dix neuf mille"
    refs = (common, "quatre vingt dix huit mille", common, "cent un mille deux")
    expected = sacrebleu.corpus_bleu([common] * 4, [list(refs)]).score
    assert _constant_bleu(refs) == pytest.approx(expected) and 0 < expected < 100
    scores = en_fr.evaluate()
    assert 0 <= scores["constant_bleu"] < scores["bleu"]


def test_beam_search_is_at_least_as_likely_as_greedy(en_fr: glassnet.api.Run) -> None:
    encoded = en_fr.task.encode(en_fr.spec.data.data, with_targets=True)  # the test split
    src, src_len = encoded.batch["src"][:400], encoded.batch["src_len"][:400]
    out_len = en_fr.task.state()["out_len"]
    _, greedy = en_fr.net.generate(src, src_len, out_len, beam=1)
    ids, beam = en_fr.net.generate(src, src_len, out_len, beam=5)
    assert float(beam.mean()) >= float(greedy.mean()) - 1e-6
    assert (ids[:, 0] != 0).all()  # every hypothesis starts with a real token


def test_beam_from_predict_and_evaluate(en_fr: glassnet.api.Run) -> None:
    again = glassnet.load(en_fr.path)
    seen: list[int] = []
    real = again.net.generate

    def spy(*args, **kw):  # type: ignore[no-untyped-def]
        seen.append(args[3] if len(args) > 3 else kw.get("beam", 1))
        return real(*args, **kw)

    again.net.generate = spy  # type: ignore[method-assign]
    beamed = again.predict(["eight thousand and eight"], beam=4)
    assert seen == [4] and list(beamed["translation"]) == ["huit mille huit"]
    again.predict(["eight"])  # a decode option holds for its own call only
    assert seen == [4, 1] and again.task.decoding.beam == 1
    again.evaluate(beam=2)
    assert seen[-1] == 2
    with pytest.raises(glassnet.errors.ConfigError, match="--beam 0"):
        again.predict(["one"], beam=0)
    with pytest.raises(glassnet.errors.ConfigError, match="--threshold does not apply"):
        again.predict(["one"], threshold=0.5)


def test_save_load_gives_identical_translations(en_fr: glassnet.api.Run) -> None:
    texts = ["seventy-one thousand, four hundred and five", "eight", "one thousand"]
    again = glassnet.load(en_fr.path)
    assert list(again.predict(texts)["translation"]) == list(en_fr.predict(texts)["translation"])


def test_unknown_source_tokens_are_reported(en_fr: glassnet.api.Run) -> None:
    en_fr.predict(["seventy-one zebras"])
    assert any("'zebras'" in n and "<unk>" in n for n in en_fr.notes)


def _pairs(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = [f"{a} {b}\t{b} {a}" for a in ("red", "blue", "green", "big") for b in ("cat", "dog", "fox")]


def test_pair_file_errors_name_the_line(workdir: Path) -> None:
    bad = _pairs(workdir / "cols.tsv", [*GOOD, "one\ttwo\tthree"])
    with pytest.raises(DataError, match="line 13 of .* has 3 tab-separated field"):
        glassnet.train("translation", str(bad), quiet=True)
    empty = _pairs(workdir / "empty.tsv", [*GOOD, "lonely\t "])
    with pytest.raises(DataError, match="line 13 of .* has an empty target"):
        glassnet.train("translation", str(empty), quiet=True)
    mixed = workdir / "mixed.tsv"
    mixed.write_bytes(("\n".join(GOOD) + "\n").encode() + "caf\u00e9\tcafe\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 13 of .* is not UTF-8"):
        glassnet.train("translation", str(mixed), quiet=True)


def test_blank_lines_and_long_pairs(workdir: Path) -> None:
    data = _pairs(workdir / "p.tsv", [GOOD[0], "", *GOOD[1:6], "", *GOOD[6:], "red " * 9 + "\tx"])
    run = glassnet.train(
        "translation",
        str(data),
        epochs=1,
        max_len=5,
        quiet=True,
        val_fraction=0.2,
        test_fraction=0.0,
        attention="luong",
        net="seq2seq.lstm",
    )
    notes = run.task.load_data().notes
    assert any("2 blank line(s) skipped (line 2, 8)" in n for n in notes)
    with pytest.raises(DataError, match="has 9 tokens, more than --max-len 5"):
        glassnet.train("translation", str(data), max_len=5, strict=True, quiet=True, out="s")


def _fake_dictd(folder: Path) -> None:
    entries = [
        ("cat", "cat /kat/\nKatze <fem> [zool.]\n   Synonym: {feline}\n"),
        ("dog", "dog /dog/\nHund <m>\n"),
        ("ice cream", "ice cream\nEis, Speiseeis\n"),
    ]
    body, index = b"", []
    for head, text in entries:
        data = text.encode()

        def b64(n: int) -> str:
            out = ""
            while True:
                out = _B64[n % 64] + out
                n //= 64
                if not n:
                    return out

        index.append(f"{head}\t{b64(len(body))}\t{b64(len(data))}")
        body += data
    (folder / "freedict-eng-deu.index").write_text("\n".join(index) + "\n")
    with gzip.open(folder / "freedict-eng-deu.dict.dz", "wb") as f:
        f.write(body)


def test_freedict_pairs_from_dictd_files(tmp_path: Path) -> None:
    _fake_dictd(tmp_path)
    pairs = sorted(read_freedict("freedict-eng-deu", tmp_path))
    assert pairs == ["cat\tKatze", "dog\tHund", "ice cream\tEis"]
    with pytest.raises(DataError, match="apt-get install dict-freedict-eng-deu"):
        read_freedict("freedict-eng-deu", tmp_path / "nowhere")


@pytest.mark.skipif(
    not Path("/usr/share/dictd/freedict-eng-deu.index").is_file(),
    reason="Debian's dict-freedict-eng-deu is not installed",
)
def test_the_installed_freedict_dictionary() -> None:
    pairs = read_freedict("freedict-eng-deu", limit=10**9)
    assert len(pairs) > 10_000 and np.mean([len(p.split("\t")) == 2 for p in pairs]) == 1
    assert "cat\tKatze" in pairs
