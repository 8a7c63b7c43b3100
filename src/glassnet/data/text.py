"""Text as tokens: reading text files safely, tokenizers (word, char, subword) and
vocabularies, all stored as plain JSON (the sentencepiece model travels as base64 of its own
serialised form, never pickle).

Token ids: 0 padding, 1 unknown, 2 begin, 3 end; then the vocabulary, most frequent first.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from glassnet.errors import DataError

SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD, UNK, BOS, EOS = range(4)
TokenKind = Literal["word", "char", "subword"]


def read_text_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file. A line in another encoding is named, with a guess."""
    if not path.exists():
        raise DataError(f"data file '{path}' does not exist", fix="Check the path")
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte-order mark
    lines = raw.split(b"\n")
    for number, line in enumerate(lines, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            guess = "Windows-1252 / Latin-1" if _latin1_like(line) else "another encoding"
            raise DataError(
                f"line {number} of '{path}' is not UTF-8 (byte 0x{line[e.start]:02x} at "
                f"column {e.start + 1}; it looks like {guess}): the file mixes encodings",
                fix="Re-save the file as UTF-8, e.g. `iconv -f cp1252 -t utf-8 in.tsv > out.tsv`",
            ) from None
    text = raw.decode("utf-8")
    return [ln.rstrip("\r") for ln in text.split("\n")]


def _latin1_like(line: bytes) -> bool:
    return any(0xC0 <= b <= 0xFF or 0x80 <= b <= 0x9F for b in line)


def read_pairs(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Tab-separated `source<TAB>target` lines -> pairs and notes. Blank lines are skipped
    (and counted); any other line must have exactly two non-empty fields."""
    pairs, blank = [], []
    for number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            blank.append(number)
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise DataError(
                f"line {number} of '{path}' has {len(fields)} tab-separated field(s); "
                "translation pairs need exactly 2 (source<TAB>target)",
                fix="Separate source and target by one tab, and remove tabs inside them",
            )
        src, tgt = fields[0].strip(), fields[1].strip()
        if not src or not tgt:
            side = "source" if not src else "target"
            raise DataError(
                f"line {number} of '{path}' has an empty {side}",
                fix="Remove the line or fill in both sides",
            )
        pairs.append((src, tgt))
    if blank and blank[-1] == number:  # the empty string after a final newline
        blank.pop()
    notes = []
    if blank:
        shown = ", ".join(map(str, blank[:5])) + (" ..." if len(blank) > 5 else "")
        notes.append(f"{len(blank)} blank line(s) skipped (line {shown})")
    if not pairs:
        raise DataError(f"'{path}' has no translation pairs", fix="One pair per line: src<TAB>tgt")
    return pairs, notes


class Tokenizer:
    """Splits text into tokens and joins them back: `word` (whitespace), `char`, or
    `subword` (a sentencepiece unigram model trained on the training split)."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.kind: TokenKind = state["kind"]
        self.lowercase: bool = state.get("lowercase", False)
        self._state = state
        self._sp = None
        if self.kind == "subword":
            import sentencepiece as spm

            proto = base64.b64decode(state["sentencepiece"])
            self._sp = spm.SentencePieceProcessor(model_proto=proto)

    @classmethod
    def fit(
        cls, texts: list[str], kind: TokenKind, *, lowercase: bool = False, vocab_size: int = 4000
    ) -> Tokenizer:
        state: dict[str, Any] = {"kind": kind, "lowercase": lowercase}
        if kind == "subword":
            state["sentencepiece"] = _train_sentencepiece(
                [t.lower() if lowercase else t for t in texts], vocab_size
            )
        return cls(state)

    def state(self) -> dict[str, Any]:
        return self._state

    def split(self, text: str) -> list[str]:
        text = text.lower() if self.lowercase else text
        if self.kind == "word":
            return text.split()
        if self.kind == "char":
            return list(" ".join(text.split()))
        assert self._sp is not None
        return list(self._sp.encode(text, out_type=str))

    def join(self, tokens: list[str]) -> str:
        if self.kind == "word":
            return " ".join(tokens)
        if self.kind == "char":
            return "".join(tokens)
        assert self._sp is not None
        return str(self._sp.decode_pieces(tokens))


def _train_sentencepiece(texts: list[str], vocab_size: int) -> str:
    """A unigram model trained in memory; returned as base64 of its serialised proto."""
    import sentencepiece as spm

    distinct_chars = len(set("".join(texts)))
    # sentencepiece refuses a vocabulary larger than the text supports; shrink until it fits
    size = max(min(vocab_size, 8 * distinct_chars + 64), distinct_chars + 8)
    for _ in range(6):
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(texts),
                model_writer=model,
                vocab_size=size,
                model_type="unigram",
                character_coverage=1.0,
                pad_id=-1,
                bos_id=-1,
                eos_id=-1,
                unk_id=0,
                minloglevel=2,
                hard_vocab_limit=False,
            )
            return base64.b64encode(model.getvalue()).decode("ascii")
        except RuntimeError:
            size = max(distinct_chars + 8, size // 2)
    raise DataError("could not train a subword tokenizer on this text", fix="Use --tokens word")


class Vocab:
    """Token <-> id, built from the training split (most frequent first)."""

    def __init__(self, itos: list[str]) -> None:
        self.itos = itos
        self.stoi = {t: i for i, t in enumerate(itos)}

    @classmethod
    def fit(cls, token_lists: Iterable[list[str]], max_size: int, min_count: int = 1) -> Vocab:
        counts = Counter(t for tokens in token_lists for t in tokens)
        kept = [t for t, c in counts.most_common() if c >= min_count and t not in SPECIALS]
        return cls(list(SPECIALS) + kept[: max(max_size - len(SPECIALS), 0)])

    def __len__(self) -> int:
        return len(self.itos)

    def ids(self, tokens: list[str]) -> tuple[list[int], list[str]]:
        """Token ids and the tokens that were not in the vocabulary (read as <unk>)."""
        out, unknown = [], []
        for t in tokens:
            i = self.stoi.get(t)
            if i is None:
                unknown.append(t)
                i = UNK
            out.append(i)
        return out, unknown

    def tokens(self, ids: Iterable[int]) -> list[str]:
        """Ids -> tokens, stopping at the end token and skipping padding and begin."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            out.append(self.itos[i] if i < len(self.itos) else SPECIALS[UNK])
        return out


def unknown_note(unknown: list[str], what: str = "token") -> list[str]:
    if not unknown:
        return []
    examples = ", ".join(repr(t) for t in sorted(set(unknown))[:5])
    return [f"{len(unknown)} {what}(s) not in the vocabulary (e.g. {examples}) were read as <unk>"]


def fit_length(
    ids: list[int], max_len: int, strict: bool, where: str, counter: list[int]
) -> list[int]:
    """Truncate to `max_len` (counted in `counter`) or, with `strict`, refuse."""
    if len(ids) <= max_len:
        return ids
    if strict:
        raise DataError(
            f"{where} has {len(ids)} tokens, more than --max-len {max_len}",
            fix="Raise --max-len, or drop --strict to truncate long sequences",
        )
    counter[0] += 1
    return ids[:max_len]


# Plain-Python twin of Tokenizer.split / join for exported models' READMEs (run by the
# tests): defines make_split(state) and make_join(state) from a tokenizer's JSON state.
TOKENIZER_SNIPPET = """\
import base64


def _pieces(state):
    import sentencepiece  # subword models carry their sentencepiece model in the JSON

    return sentencepiece.SentencePieceProcessor(
        model_proto=base64.b64decode(state["sentencepiece"])
    )


def make_split(state):
    sp = _pieces(state) if state["kind"] == "subword" else None

    def split(text):
        text = text.lower() if state["lowercase"] else text
        if state["kind"] == "word":
            return text.split()
        if state["kind"] == "char":
            return list(" ".join(text.split()))
        return sp.encode(text, out_type=str)

    return split


def make_join(state):
    sp = _pieces(state) if state["kind"] == "subword" else None
    if state["kind"] == "word":
        return " ".join
    if state["kind"] == "char":
        return "".join
    return sp.decode_pieces


def to_ids(texts, vocab, split, max_len):
    \"\"\"Padded ids (0 padding, 1 unknown) and lengths, as the model takes them.\"\"\"
    stoi = {t: i for i, t in enumerate(vocab)}
    seqs = [[stoi.get(t, 1) for t in split(s)][:max_len] or [1] for s in texts]
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    ids = np.zeros((len(seqs), lengths.max()), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
    return ids, lengths

"""
