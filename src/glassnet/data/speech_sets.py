"""Speech data in: clips with their transcripts, in the layouts people have.

- `transcripts.csv` (columns `path,text`; paths relative to the CSV) in a folder;
- LibriSpeech: `*.trans.txt` files (`<id> <TEXT>` per line) beside `<id>.flac`;
- Common Voice: a `*.tsv` with `path` and `sentence` columns, clips under `clips/`.
A folder with `train/`, `val/`, `test/` sub-folders in one of those layouts gives the splits.

The check names the file of: unreadable or empty audio, clips longer than the limit,
transcripts without audio (and lists audio without a transcript); it counts clips at other
sample rates (resampled) and with several channels (mixed down).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glassnet.data.audio import RATE, find_audio, log_mel, read_clip
from glassnet.data.splits import ItemSplit
from glassnet.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass
class Utterance:
    path: Path
    text: str | None  # None when predicting


@dataclass
class SpeechSet:
    items: list[Utterance]
    source: str
    notes: list[str] = field(default_factory=list)


def read_speech(root: Path) -> dict[str, SpeechSet]:
    """The splits of a speech folder ('all' when it has no train/val/test folders)."""
    if not root.exists():
        raise DataError(f"'{root}' does not exist", fix="Check the path")
    if root.is_dir():
        parts = {s: root / s for s in SPLITS if (root / s).is_dir()}
        if parts and "train" in parts:
            return {s: _read_folder(p) for s, p in parts.items()}
    return {"all": _read_folder(root)}


def _read_folder(folder: Path) -> SpeechSet:
    if folder.is_file() and folder.suffix.lower() in (".csv", ".tsv"):
        table = folder
        folder = folder.parent
    elif (folder / "transcripts.csv").is_file():
        table = folder / "transcripts.csv"
    else:
        table = None
    if table is not None and table.suffix.lower() == ".csv":
        pairs = _transcripts_csv(table)
    elif list(folder.rglob("*.trans.txt")):
        pairs = _librispeech(folder)
    elif table is not None or list(folder.glob("*.tsv")):
        pairs = _common_voice(table or sorted(folder.glob("*.tsv"))[0])
    else:
        raise DataError(
            f"'{folder}' has no transcripts: expected transcripts.csv (path,text), "
            "LibriSpeech *.trans.txt files or a Common Voice *.tsv",
            fix="Add transcripts.csv with a path,text row per clip (paths relative to it)",
        )
    missing = [str(p) for p, _ in pairs if not p.is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} transcript(s) in '{folder}' name audio that does not exist, e.g. "
            + ", ".join(missing[:3]),
            fix="Fix the paths (relative to the transcripts file) or remove those rows",
        )
    listed = {p.resolve() for p, _ in pairs}
    unlisted = [p for p in find_audio(folder) if p.resolve() not in listed]
    notes = []
    if unlisted:
        notes.append(
            f"{len(unlisted)} audio file(s) in '{folder}' have no transcript and were left "
            f"out, e.g. {', '.join(p.name for p in unlisted[:3])}"
        )
    return SpeechSet([Utterance(p, t) for p, t in pairs], f"'{folder}'", notes)


def _transcripts_csv(path: Path) -> list[tuple[Path, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "text"} <= set(reader.fieldnames):
            raise DataError(
                f"'{path}' needs the columns path and text, it has "
                f"{', '.join(reader.fieldnames or [])}",
                fix="Name the columns path,text",
            )
        return [(path.parent / row["path"], row["text"] or "") for row in reader]


def _librispeech(folder: Path) -> list[tuple[Path, str]]:
    pairs = []
    for trans in sorted(folder.rglob("*.trans.txt")):
        for n, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            ident, _, text = line.partition(" ")
            if not text:
                raise DataError(f"{trans}:{n} has an id but no text", fix="Fix that line")
            pairs.append((trans.parent / f"{ident}.flac", text))
    return pairs


def _common_voice(tsv: Path) -> list[tuple[Path, str]]:
    with tsv.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if not reader.fieldnames or not {"path", "sentence"} <= set(reader.fieldnames):
            raise DataError(f"'{tsv}' needs the columns path and sentence", fix="Check the file")
        clips = tsv.parent / "clips"
        base = clips if clips.is_dir() else tsv.parent
        return [(base / row["path"], row["sentence"] or "") for row in reader]


@dataclass
class AudioCheck:
    good: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_audio(
    items: list[Utterance], source: str, max_seconds: float, skip_bad: bool
) -> AudioCheck:
    """Read every clip's header: unreadable, empty and too-long clips stop the run (or are
    skipped with skip_bad); other rates and channel counts are counted."""
    import soundfile as sf

    check, bad = AudioCheck(), []
    rates: Counter[int] = Counter()
    stereo = 0
    for i, item in enumerate(items):
        try:
            info = sf.info(str(item.path))
        except (sf.LibsndfileError, RuntimeError) as e:
            bad.append(f"{item.path}: not audio soundfile can read ({str(e).splitlines()[0]})")
            continue
        seconds = info.frames / info.samplerate if info.samplerate else 0.0
        if info.frames == 0:
            bad.append(f"{item.path}: empty (no samples)")
            continue
        if seconds > max_seconds:
            bad.append(f"{item.path}: {seconds:.1f} s, longer than --max-seconds {max_seconds:g}")
            continue
        rates[info.samplerate] += 1
        stereo += info.channels > 1
        check.good.append(i)
        check.seconds.append(seconds)
    if bad:
        shown = "; ".join(bad[:8]) + (f" (and {len(bad) - 8} more)" if len(bad) > 8 else "")
        if not skip_bad:
            raise DataError(
                f"{len(bad)} clip(s) in {source} cannot be used: {shown}",
                fix="Fix or remove them, raise --max-seconds, or pass --skip-bad",
            )
        check.notes.append(f"skipped {len(bad)} clip(s): {shown}")
    if not check.good:
        raise DataError(f"no usable clips in {source}")
    other = sum(n for r, n in rates.items() if r != RATE)
    if other:
        shown = ", ".join(f"{r} Hz x{n}" for r, n in rates.most_common() if r != RATE)
        check.notes.append(
            f"{other} clip(s) at other sample rates ({shown}) were resampled to 16 kHz"
        )
    if stereo:
        check.notes.append(f"{stereo} clip(s) with several channels were mixed down to mono")
    return check


class SpeechClips(ItemSplit):
    """Clips as log-mel features: sample i is {"x": (T, n_mels) float, "y": (L,) long
    character ids} (no "y" when predicting). Lengths differ, so batches hold lists; the
    task pads them."""

    def __init__(self, items: list[Utterance], n_mels: int, encode_text: Any = None) -> None:
        self.items, self.n_mels, self.encode_text = list(items), n_mels, encode_text

    def __len__(self) -> int:
        return len(self.items)

    def load(self, i: int) -> dict[str, Any]:
        clip = read_clip(self.items[i].path)
        item: dict[str, Any] = {"x": log_mel(torch.from_numpy(clip.samples), self.n_mels)}
        text = self.items[i].text
        if self.encode_text is not None and text is not None:
            item["y"] = torch.tensor(self.encode_text(text), dtype=torch.long)
        return item

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {k: [it[k] for it in items] for k in items[0]}

    def nbytes(self) -> int:
        return len(self) * 4 * self.n_mels * 250  # ~2.5 s a clip

    def subset(self, idx: Any) -> SpeechClips:
        return SpeechClips([self.items[int(i)] for i in idx], self.n_mels, self.encode_text)


def normalise_text(text: str) -> str:
    """Lower case, one space between words."""
    return " ".join(text.lower().split())


def mean_seconds(seconds: list[float]) -> float:
    return float(np.mean(seconds)) if seconds else 0.0
