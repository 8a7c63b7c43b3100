"""Sequence classification: text read token by token, or numeric multichannel sequences of
varying length (long format: one row per step, --id/--time), classified by an RNN.

Data: a table (CSV/TSV/Parquet), or a folder holding train.csv and test.csv (a standard
split, as japanese-vowels ships). Sequences are padded to the longest in the set (capped by
--max-len) and packed in the net, so padding never reaches the recurrent state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from glassnet.config import DataSpec, NetSpec, TableDataSpec
from glassnet.data.splits import Batch, TensorSplit
from glassnet.data.tables import read_table, require_column
from glassnet.data.text import TOKENIZER_SNIPPET, Tokenizer, Vocab, fit_length, unknown_note
from glassnet.errors import ConfigError, DataError
from glassnet.nets import create_net
from glassnet.tasks import sources
from glassnet.tasks._base import DataSplits, Encoded, StepOutput, Task, register_task
from glassnet.tasks.classification import (
    SOFTMAX_SNIPPET,
    class_ids,
    decode_classes,
    score_classes,
)
from glassnet.tasks.messages import Request, RowsRequest, TextsRequest
from glassnet.tasks.splitting import split_indices
from glassnet.tasks.text_inputs import as_texts

FILE_ID, FOLDER_LABEL = "file", "label"  # columns made for a folder of sequence files


def sequence_files(folder: Path, sep: str | None = None) -> pd.DataFrame:
    """A folder of CSV files, one sequence each (rows = steps), in class sub-folders when
    labelled -> one long table with a 'file' id column and a 'label' column."""
    files = sorted(folder.rglob("*.csv"))
    if not files:
        raise DataError(
            f"'{folder}' has no train.csv and no sequence files (*.csv)",
            fix="Pass a table file, a folder with train.csv (and test.csv), or a folder of "
            "class folders holding one CSV per sequence",
        )
    parts = []
    for f in files:
        part = read_table(f, sep=sep)
        rel = f.relative_to(folder)
        part.insert(0, FILE_ID, str(rel))
        if len(rel.parts) > 1:
            part[FOLDER_LABEL] = rel.parts[0]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


class SequencesDataSpec(TableDataSpec):
    text: str | None = Field(None, description="the text column (text mode)")
    target: str | None = Field(None, description="the label column")
    tokens: Literal["word", "char", "subword"] = Field(
        "word", description="read text by words, characters, or subwords (sentencepiece)"
    )
    vocab_size: int = Field(8000, ge=16, description="largest vocabulary (subword: its size)")
    lowercase: bool = Field(True, description="lower-case text before tokenizing")
    max_len: int = Field(200, ge=1, description="longest sequence read (steps or tokens)")
    strict: bool = Field(False, description="refuse sequences longer than --max-len")
    id: str | None = Field(None, description="numeric mode: the column naming each sequence")
    time: str | None = Field(None, description="numeric mode: the column ordering the steps")
    channels: list[str] | None = Field(
        None, description="numeric mode: the value columns (default: every other number)"
    )


@register_task
class SequencesTask(Task):
    """A sequence (text or numbers) in, a class out."""

    name: ClassVar[str] = "sequences"
    data_spec: ClassVar[type[DataSpec]] = SequencesDataSpec
    default_net: ClassVar[str] = "seq.lstm"
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 20, "patience": 6}
    input_keys: ClassVar[tuple[str, ...]] = ("x", "lengths")
    export_axes: ClassVar[dict[str, dict[int, str]]] = {"x": {1: "steps"}}
    spec: SequencesDataSpec

    def __init__(
        self, spec: SequencesDataSpec, state: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        super().__init__(spec, state, **kw)
        self._tokenizer: Tokenizer | None = None
        self._vocab: Vocab | None = None

    @classmethod
    def data_defaults(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A folder of sequence files (no train.csv) names its sequences by file and labels
        them by class folder."""
        out = super().data_defaults(data)
        value = data.get("data")
        if isinstance(value, str) and value != sources.IN_MEMORY and not data.get("text"):
            path, _ = sources.resolve(value)
            if path is not None and path.is_dir() and not (path / "train.csv").is_file():
                out.setdefault("id", FILE_ID)
                out.setdefault("target", FOLDER_LABEL)
        return out

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        super().check_spec(spec)
        assert isinstance(spec, SequencesDataSpec)
        columns = sources.peek_columns(spec.data)
        listing = f"Columns are: {', '.join(columns)}" if columns else None
        if not spec.target:
            raise ConfigError(
                "no target column given",
                fix="Pass --target COLUMN"
                + (f"; {listing[0].lower()}{listing[1:]}" if listing else ""),
            )
        if not spec.text and not spec.id:
            raise ConfigError(
                "say what the sequences are: --text COLUMN for text, or --id COLUMN (and "
                "--time) for numeric sequences in long format",
                fix=listing or "Name the columns",
            )

    # ---- reading --------------------------------------------------------------------------
    def _read(self, option: str) -> tuple[pd.DataFrame | None, pd.DataFrame | None, str]:
        """(frame, standard test frame or None, name) for the data / val / test option."""
        src = self.source(option)
        if src is None:
            return None, None, ""
        if src.path is None:
            return sources.frame_of(src, self.spec.sep), None, src.name
        return self._read_path(src.path, src.value)

    @property
    def numeric(self) -> bool:
        return (self._st or {}).get("mode", "text" if self.spec.text else "numeric") == "numeric"

    def load_data(self) -> DataSplits:
        frame, standard_test, source = self._read("data")
        spec = self.spec
        assert frame is not None and spec.target
        require_column(frame, spec.target, source, "target")
        notes: list[str] = []
        items, labels, names = self._items(frame, source, notes, with_targets=True)
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise DataError(f"{source} has a single class ('{classes[0]}')", fix="Add classes")

        val_frame, _, _ = self._read("val")
        test_frame, _, _ = self._read("test")
        if standard_test is not None and test_frame is None:
            test_frame = standard_test
        idx, val_idx, test_idx = split_indices(
            len(items),
            val_fraction=spec.val_fraction,
            test_fraction=spec.test_fraction,
            seed=self.seed,
            labels=labels,
            given={k for k, f in (("val", val_frame), ("test", test_frame)) if f is not None},
        )

        train_items = [items[i] for i in idx]
        self._st = {"mode": "numeric" if spec.id and not spec.text else "text", "labels": classes}
        self._fit(train_items, frame)
        st = self._st
        notes.append(
            f"{len(idx)} training sequences, {len(classes)} classes"
            + (f", vocabulary {len(st['vocab'])} tokens" if "vocab" in st else "")
            + (f", {len(st['channels'])} channels" if "channels" in st else "")
        )

        def part(ix: np.ndarray) -> TensorSplit:
            return TensorSplit(self._batch([items[i] for i in ix], [labels[i] for i in ix], notes))

        def given(f: pd.DataFrame, name: str) -> TensorSplit:
            its, labs, _ = self._items(f, name, notes, with_targets=True)
            return TensorSplit(self._batch(its, labs, notes))

        val = given(val_frame, "the validation data") if val_frame is not None else None
        test = given(test_frame, "the test data") if test_frame is not None else None
        return DataSplits(
            train=part(idx),
            val=part(val_idx) if val_idx is not None else val,
            test=part(test_idx) if test_idx is not None else test,
            notes=notes,
        )

    def _items(
        self, frame: pd.DataFrame, source: str, notes: list[str], *, with_targets: bool
    ) -> tuple[list[Any], list[str], list[str]]:
        """Texts (text mode) or (T, C) arrays (numeric), their labels and names."""
        spec, st = self.spec, self._st or {}
        target = st.get("target", spec.target)
        if with_targets:
            require_column(frame, target, source, "target")
        if st.get("mode", "numeric" if spec.id and not spec.text else "text") == "text":
            column = st.get("text", spec.text)
            require_column(frame, column, source, "text")
            texts = frame[column]
            empty = texts.isna() | (texts.astype(str).str.strip() == "")
            if with_targets:
                empty |= frame[target].isna()
            if empty.any():
                rows = [int(i) + 2 for i in np.flatnonzero(empty.to_numpy())[:5]]
                notes.append(
                    f"{int(empty.sum())} row(s) of {source} with an empty text or label were "
                    f"skipped (line {', '.join(map(str, rows))}{' ...' if empty.sum() > 5 else ''})"
                )
            kept = frame[~empty]
            values = kept[column].astype(str).tolist()
            labels = kept[target].astype(str).tolist() if with_targets else []
            return values, labels, [v if len(v) <= 60 else v[:57] + "..." for v in values]
        return self._numeric_items(frame, source, with_targets)

    def _numeric_items(
        self, frame: pd.DataFrame, source: str, with_targets: bool
    ) -> tuple[list[Any], list[str], list[str]]:
        spec, st = self.spec, self._st or {}
        id_col, time_col = st.get("id", spec.id), st.get("time", spec.time)
        target = st.get("target", spec.target)
        require_column(frame, id_col, source, "sequence id")
        if time_col:
            require_column(frame, time_col, source, "time")
            frame = frame.sort_values([id_col, time_col], kind="stable")
        channels = st.get("channels") or spec.channels
        if channels is None:
            skip = {id_col, time_col, target}
            channels = [
                c
                for c in frame.columns
                if c not in skip and pd.api.types.is_numeric_dtype(frame[c])
            ]
        for c in channels:
            require_column(frame, c, source, "channel")
        items, labels, names = [], [], []
        for sid, part in frame.groupby(id_col, sort=False):
            values = part[channels].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
            if np.isnan(values).any():
                row, col = np.argwhere(np.isnan(values))[0]
                raise DataError(
                    f"sequence '{sid}' has a missing or non-numeric value in channel "
                    f"'{channels[col]}' (its step {row + 1})",
                    where=source,
                    fix="Fill or remove that value",
                )
            if with_targets:
                found = part[target].dropna().astype(str).unique()
                if len(found) != 1:
                    raise DataError(
                        f"sequence '{sid}' has {len(found)} different labels in '{target}'; a "
                        "sequence has one label",
                        where=source,
                        fix="Give every row of a sequence the same label",
                    )
                labels.append(str(found[0]))
            items.append(values)
            names.append(str(sid))
        if not items:
            raise DataError(f"{source} has no sequences", fix="Add rows")
        if st.get("channels") is None:
            self._pending_channels = channels  # chosen from the training file; _fit stores them
        return items, labels, names

    # ---- preprocessing -------------------------------------------------------------------------
    def _fit(self, train_items: list[Any], frame: pd.DataFrame) -> None:
        st, spec = self._st, self.spec
        assert st is not None
        st.update({"target": spec.target, "max_len": spec.max_len, "strict": spec.strict})
        if st["mode"] == "text":
            tok = Tokenizer.fit(
                train_items, spec.tokens, lowercase=spec.lowercase, vocab_size=spec.vocab_size
            )
            vocab = Vocab.fit((tok.split(t) for t in train_items), spec.vocab_size)
            st.update({"text": spec.text, "tokenizer": tok.state(), "vocab": vocab.itos})
            self._tokenizer, self._vocab = tok, vocab
        else:
            stacked = np.concatenate(train_items)
            std = stacked.std(0)
            st.update(
                {
                    "id": spec.id,
                    "time": spec.time,
                    "channels": list(self._pending_channels),
                    "mean": stacked.mean(0).tolist(),
                    "std": np.where(std > 0, std, 1.0).tolist(),
                }
            )

    def _tools(self) -> tuple[Tokenizer, Vocab]:
        if self._tokenizer is None:
            st = self.state()
            self._tokenizer, self._vocab = Tokenizer(st["tokenizer"]), Vocab(st["vocab"])
        assert self._vocab is not None
        return self._tokenizer, self._vocab

    def _batch(self, items: list[Any], labels: list[str], notes: list[str]) -> Batch:
        batch, more = self._tensors(items)
        notes += [n for n in more if n not in notes]
        if labels:
            batch["y"] = torch.tensor(class_ids(labels, self.state()["labels"], "the data"))
        return batch

    def _tensors(self, items: list[Any]) -> tuple[Batch, list[str]]:
        """Padded tensors: x (N, T) ids or (N, T, C) values, lengths (N,)."""
        st = self.state()
        cut = [0]
        if st["mode"] == "text":
            tok, vocab = self._tools()
            seqs, unknown = [], []
            for i, text in enumerate(items):
                ids, unk = vocab.ids(tok.split(text))
                unknown += unk
                seqs.append(
                    fit_length(ids or [1], st["max_len"], st["strict"], f"text {i + 1}", cut)
                )
            notes = unknown_note(unknown) if self._st and "vocab" in self._st else []
            lengths = [len(s) for s in seqs]
            x = torch.zeros(len(seqs), max(lengths), dtype=torch.long)
            for i, s in enumerate(seqs):
                x[i, : len(s)] = torch.tensor(s)
        else:
            mean, std = np.array(st["mean"], np.float32), np.array(st["std"], np.float32)
            arrays = []
            for i, a in enumerate(items):
                keep = fit_length(
                    list(range(len(a))), st["max_len"], st["strict"], f"sequence {i + 1}", cut
                )
                arrays.append((a[: len(keep)] - mean) / std)
            lengths = [len(a) for a in arrays]
            x = torch.zeros(len(arrays), max(lengths), len(mean))
            for i, a in enumerate(arrays):
                x[i, : len(a)] = torch.from_numpy(a)
            notes = []
        if cut[0]:
            notes.append(
                f"{cut[0]} sequence(s) longer than --max-len {st['max_len']} were truncated"
            )
        return {"x": x, "lengths": torch.tensor(lengths)}, notes

    @property
    def labels(self) -> list[str]:
        return list(self.state()["labels"])

    # ---- net -------------------------------------------------------------------------------
    def build_net(self, net: NetSpec) -> nn.Module:
        st = self.state()
        return create_net(
            net.name,
            vocab_size=len(st["vocab"]) if st["mode"] == "text" else 0,
            n_channels=len(st.get("channels", [])),
            num_outputs=len(st["labels"]),
            **net.options,
        )

    def step(self, net: nn.Module, batch: Batch) -> StepOutput:
        out = self.forward(net, batch)
        return StepOutput(loss=F.cross_entropy(out.float(), batch["y"]), outputs=out)

    # ---- use -------------------------------------------------------------------------------
    def encode(self, source: Any, *, with_targets: bool) -> Encoded:
        st = self.state()
        notes: list[str] = []
        texts = as_texts(source) if st["mode"] == "text" and not with_targets else None
        if texts is not None:
            items, labels, names = texts, [], [t if len(t) <= 60 else t[:57] + "..." for t in texts]
        else:
            src = sources.open_source(source)
            if src.path is None:
                frame, name = sources.frame_of(src, self.spec.sep), src.name
            else:
                frame, test, name = self._read_path(src.path, src.value)
                if with_targets and test is not None:
                    frame, name = test, name.replace("train.csv", "test.csv")
            items, labels, names = self._items(frame, name, notes, with_targets=with_targets)
        batch = self._batch(items, labels, notes)
        extra = {}
        if st["mode"] == "text":
            tok, vocab = self._tools()
            extra["tokens"] = [
                [vocab.itos[i] for i in row[:n]]
                for row, n in zip(batch["x"].tolist(), batch["lengths"].tolist(), strict=True)
            ]
        return Encoded(TensorSplit(batch), notes, names=names, extra=extra)

    def _read_path(self, path: Path, source: str) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
        """A table file; a folder with train.csv (+ test.csv); or a folder of sequence
        files (one CSV per sequence, in class sub-folders when labelled)."""
        if path.is_dir():
            train, test = path / "train.csv", path / "test.csv"
            if not train.is_file():
                return sequence_files(path, self.spec.sep), None, f"'{source}'"
            held = read_table(test, sep=self.spec.sep) if test.is_file() else None
            return read_table(train, sep=self.spec.sep), held, f"'{train}'"
        frame = read_table(path, sep=self.spec.sep)
        st = self._st or {}
        if st.get("id") == FILE_ID and FILE_ID not in frame.columns:
            frame = frame.assign(**{FILE_ID: path.name})  # one sequence file
        return frame, None, f"'{source}'"

    def decode(self, outputs: torch.Tensor, batch: Batch) -> list[dict[str, Any]]:
        return decode_classes(outputs, self.labels)

    def score(self, outputs: torch.Tensor, batch: Batch) -> dict[str, float]:
        return score_classes(outputs, batch["y"])

    # ---- export ----------------------------------------------------------------------------
    def export_snippet(self) -> str:
        body = TEXT_SNIPPET if self.state()["mode"] == "text" else NUMERIC_SNIPPET
        return body + SOFTMAX_SNIPPET

    # ---- serving ---------------------------------------------------------------------------
    @property
    def request_model(self) -> type[Request]:  # type: ignore[override]
        return RowsRequest if self.numeric else TextsRequest

    def request_source(self, request: Request) -> Any:
        if isinstance(request, TextsRequest):
            return list(request.texts)
        assert isinstance(request, RowsRequest)
        return pd.DataFrame([dict(r) for r in request.rows])

    def request_example(self) -> dict[str, Any] | None:
        st = self.state()
        if st["mode"] == "text":
            return {"texts": [" ".join(st["vocab"][4:10]) or "an example"]}
        steps = [
            {
                st["id"]: "s1",
                **({st["time"]: t} if st["time"] else {}),
                **dict(zip(st["channels"], st["mean"], strict=True)),
            }
            for t in range(3)
        ]
        return {"rows": steps}

    def describe_inputs(self) -> dict[str, Any]:
        st = self.state()
        if st["mode"] == "text":
            return {
                "texts": "a JSON object {'texts': ['...', ...]}",
                "tokens": st["tokenizer"]["kind"],
                "max_len": st["max_len"],
            }
        return {
            "rows": "long format: one row per step {id: ..., time: ..., channel: value, ...}",
            **{k: st[k] for k in ("id", "time", "channels", "max_len")},
        }

    def class_labels(self) -> list[str] | None:
        return self.labels

    def vocabularies(self) -> dict[str, list[str]]:
        st = self.state()
        return {"input": list(st["vocab"])} if "vocab" in st else {}


# Plain-Python twins of the tokenizing / long-format reading above, for the export README.
TEXT_SNIPPET = (
    TOKENIZER_SNIPPET
    + """\
texts = sys.argv[1:] or ["an example text"]  # the texts to classify, as arguments
split = make_split(prep["tokenizer"])
x, lengths = to_ids(texts, prep["vocab"], split, prep["max_len"])
out = session.run(None, {"x": x, "lengths": lengths})[0]
"""
)

NUMERIC_SNIPPET = """\
import csv

# A long-format CSV (one row per step: id, time, channel columns), one answer per id.
rows = list(csv.DictReader(open(sys.argv[1] if len(sys.argv) > 1 else "sequences.csv")))
mean, std = np.array(prep["mean"]), np.array(prep["std"])
groups = {}
for r in rows:
    groups.setdefault(r[prep["id"]], []).append(r)
seqs = []
for steps in groups.values():
    if prep["time"]:
        steps.sort(key=lambda r: float(r[prep["time"]]))
    values = np.array([[float(r[c]) for c in prep["channels"]] for r in steps])
    seqs.append(((values - mean) / std)[: prep["max_len"]])
lengths = np.array([len(s) for s in seqs], dtype=np.int64)
x = np.zeros((len(seqs), lengths.max(), len(mean)), dtype=np.float32)
for i, s in enumerate(seqs):
    x[i, : len(s)] = s
out = session.run(None, {"x": x, "lengths": lengths})[0]
"""
