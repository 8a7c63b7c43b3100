"""Built-in sequences and translation pairs, all offline:

- numbers-en-fr / -en-es / -en-de: number phrases from num2words (0..99 999 at every size,
  each number once, so a random split never puts a test number in training);
- toy-reviews: generated product reviews whose label needs word order (negation, "but");
- japanese-vowels: the classic 9-speaker, 12-channel, variable-length RNN benchmark, read
  from the data files inside sktime's wheel (sktime is never imported);
- freedict-eng-deu: real English -> German word/phrase pairs from Debian's FreeDict package.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from glassnet.data.builtin import BuiltinDataset, register_dataset, sktime_data
from glassnet.data.files import atomic_write_text
from glassnet.errors import DataError

NUMBER_PAIRS = 12_000


def make_numbers(directory: Path, lang: str, n: int = NUMBER_PAIRS, seed: int = 0) -> Path:
    from num2words import num2words

    # Every size of number: all of 0..999, then 1 000..9 999 and 10 000..99 999 (a uniform
    # draw would be 90% five-digit numbers, and short phrases would stay untranslatable).
    rng = random.Random(seed)
    small = list(range(1000))
    mid = rng.sample(range(1000, 10_000), (n - len(small)) // 4)
    large = rng.sample(range(10_000, 100_000), n - len(small) - len(mid))
    numbers = small + mid + large
    rng.shuffle(numbers)
    lines = [f"{num2words(k, lang='en')}\t{num2words(k, lang=lang)}" for k in numbers]
    path = directory / f"numbers-en-{lang}.tsv"
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


# ---- toy reviews ---------------------------------------------------------------------------
_ASPECTS = ["battery", "screen", "camera", "price", "delivery", "sound", "keyboard", "case"]
_GOOD = ["good", "great", "excellent", "fine", "solid", "lovely", "superb", "decent"]
_BAD = ["bad", "poor", "awful", "weak", "terrible", "flimsy", "disappointing", "slow"]
_OPENERS = ["", "honestly", "overall", "well", "to be fair", "after a month"]
_BOOST = ["", "", "really", "very", "quite", "truly"]


def _clause(rng: random.Random, positive: bool) -> str:
    aspect = rng.choice(_ASPECTS)
    negate = rng.random() < 0.4
    word = rng.choice(_GOOD if positive != negate else _BAD)
    boost = rng.choice(_BOOST)
    verb = "is not" if negate else "is"
    return " ".join(w for w in ["the", aspect, verb, boost, word] if w)


def make_reviews(directory: Path, n: int = 4000, seed: int = 0) -> Path:
    """Label = the sentiment of the last clause: 'the screen is great but the battery is not
    good' is negative. Bags of words cannot tell; an RNN reading in order can."""
    rng = random.Random(seed)
    rows = ["review,sentiment"]
    for _ in range(n):
        positive = rng.random() < 0.5
        opener = rng.choice(_OPENERS)
        if rng.random() < 0.5:
            text = _clause(rng, positive)
        else:
            text = f"{_clause(rng, not positive)} but {_clause(rng, positive)}"
        text = f"{opener} {text}".strip()
        rows.append(f"{text},{'positive' if positive else 'negative'}")
    path = directory / "toy-reviews.csv"
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(rows) + "\n")
    return path


# ---- japanese vowels ---------------------------------------------------------------------------
def _read_ts(path: Path, first_id: int) -> list[str]:
    """sktime's .ts format: one sequence per line, channels split by ':', label last."""
    rows, seq = [], first_id
    in_data = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not in_data:
            in_data = line.strip().lower() == "@data"
            continue
        if not line.strip():
            continue
        *channels, label = line.split(":")
        values = [c.split(",") for c in channels]
        for t in range(len(values[0])):
            rows.append(",".join([str(seq), str(t), *(v[t] for v in values), f"speaker-{label}"]))
        seq += 1
    return rows


def make_japanese_vowels(directory: Path) -> Path:
    """A folder with train.csv (270 utterances) and test.csv (370): the standard split, in
    long format: one row per time step (id, t, c1..c12, speaker)."""
    folder = sktime_data("JapaneseVowels")
    directory.mkdir(parents=True, exist_ok=True)
    header = ",".join(["id", "t", *(f"c{i}" for i in range(1, 13)), "speaker"])
    train = _read_ts(folder / "JapaneseVowels_TRAIN.ts", 0)
    test = _read_ts(folder / "JapaneseVowels_TEST.ts", 10_000)
    atomic_write_text(directory / "train.csv", "\n".join([header, *train]) + "\n")
    atomic_write_text(directory / "test.csv", "\n".join([header, *test]) + "\n")
    return directory


# ---- freedict --------------------------------------------------------------------------------
FREEDICT_DIR = Path(os.environ.get("GLASSNET_FREEDICT_DIR", "/usr/share/dictd"))
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64_number(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 64 + _B64.index(ch)
    return value


def read_freedict(name: str, folder: Path | None = None, limit: int = 20_000) -> list[str]:
    """(headword, first translation) pairs of a dictd-format FreeDict dictionary, keeping
    entries of at most three words on each side."""
    import gzip
    import re

    folder = folder or Path(os.environ.get("GLASSNET_FREEDICT_DIR", FREEDICT_DIR))
    index, data = folder / f"{name}.index", folder / f"{name}.dict.dz"
    if not index.is_file() or not data.is_file():
        raise DataError(
            f"builtin:{name} reads Debian's dict-{name} package, which is not installed "
            f"(looked for {index})",
            fix=f"sudo apt-get install dict-{name} (glassnet never downloads or ships it)",
        )
    with gzip.open(data) as f:
        text = f.read()
    pairs, seen = [], set()
    for line in index.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or not parts[0].strip() or parts[0].startswith("00-"):
            continue
        start, length = _b64_number(parts[1]), _b64_number(parts[2])
        entry = text[start : start + length].decode("utf-8", "replace").splitlines()
        if len(entry) < 2:
            continue
        head = re.sub(r"\s*/[^/]*/\s*$", "", entry[0]).strip()
        sense = next((ln for ln in entry[1:] if ln and not ln[0].isspace()), "")
        sense = re.sub(r"<[^>]*>|\[[^\]]*\]|\{[^}]*\}|\([^)]*\)", "", sense).split(";")[0]
        sense = " ".join(sense.split(",")[0].split())
        if not head or not sense or "\t" in head + sense:
            continue
        if len(head.split()) > 3 or len(sense.split()) > 3 or (head, sense) in seen:
            continue
        seen.add((head, sense))
        pairs.append(f"{head}\t{sense}")
    random.Random(0).shuffle(pairs)
    return pairs[:limit]


def make_freedict(directory: Path, name: str = "freedict-eng-deu") -> Path:
    pairs = read_freedict(name)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.tsv"
    atomic_write_text(path, "\n".join(pairs) + "\n")
    return path


for _lang, _label in (("fr", "French"), ("es", "Spanish"), ("de", "German")):
    register_dataset(
        BuiltinDataset(
            f"numbers-en-{_lang}",
            "translation",
            f"{NUMBER_PAIRS} English -> {_label} number phrases from num2words (0..99 999, "
            "each number once)",
            lambda d, lang=_lang: make_numbers(d, lang),
        )
    )
register_dataset(
    BuiltinDataset(
        "toy-reviews",
        "sequences",
        "4 000 generated product reviews; the sentiment needs word order (negation, 'but')",
        make_reviews,
        {"text": "review", "target": "sentiment"},
    )
)
register_dataset(
    BuiltinDataset(
        "japanese-vowels",
        "sequences",
        "9 speakers, 12 channels, 7-29 steps: the classic RNN benchmark (from sktime's wheel; "
        "standard 270/370 train/test split)",
        make_japanese_vowels,
        {"id": "id", "time": "t", "target": "speaker"},
    )
)
register_dataset(
    BuiltinDataset(
        "freedict-eng-deu",
        "translation",
        "English -> German words and short phrases from Debian's dict-freedict-eng-deu "
        "(must be installed)",
        make_freedict,
    )
)
