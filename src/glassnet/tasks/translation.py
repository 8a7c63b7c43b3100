"""Translation: an encoder-decoder RNN with attention learns source -> target token
sequences from tab-separated pairs; greedy or beam search decodes; BLEU and chrF (sacrebleu)
score it.

The run's own test split is re-drawn from the seed when `evaluate` gets no data, so its
pairs never took part in training.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from glassnet.config import DataSpec, NetSpec
from glassnet.data.text import (
    BOS,
    EOS,
    PAD,
    TOKENIZER_SNIPPET,
    Tokenizer,
    Vocab,
    fit_length,
    read_pairs,
    unknown_note,
)
from glassnet.errors import ConfigError, DataError
from glassnet.nets import create_net
from glassnet.tasks import sources
from glassnet.tasks._base import Batch, DataSplits, Encoded, StepOutput, Task, register_task
from glassnet.tasks.messages import Request, TextsRequest
from glassnet.tasks.splitting import holdout
from glassnet.tasks.text_inputs import as_texts


class TranslationDataSpec(DataSpec):
    tokens: Literal["word", "char", "subword"] = Field(
        "word", description="split both sides into words, characters or subwords"
    )
    vocab_size: int = Field(8000, ge=16, description="largest vocabulary per side")
    lowercase: bool = Field(False, description="lower-case both sides before tokenizing")
    max_len: int = Field(60, ge=2, description="longest sequence read per side (tokens)")
    strict: bool = Field(False, description="refuse pairs longer than --max-len")
    beam: int = Field(1, ge=1, le=32, description="beam width when decoding (1 = greedy)")


@register_task
class TranslationTask(Task):
    """A sentence in, its translation out."""

    name: ClassVar[str] = "translation"
    data_spec: ClassVar[type[DataSpec]] = TranslationDataSpec
    default_net: ClassVar[str] = "seq2seq.gru"
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 30, "patience": 6}
    request_model: ClassVar[type[Request]] = TextsRequest
    export_inputs: ClassVar[tuple[str, ...]] = ("src", "src_len")
    export_axes: ClassVar[dict[str, dict[int, str]]] = {"src": {1: "steps"}}
    spec: TranslationDataSpec

    def __init__(
        self, spec: TranslationDataSpec, state: dict[str, Any] | None = None, seed: int = 0
    ) -> None:
        super().__init__(spec, state, seed)
        self.frames: dict[str, pd.DataFrame] = {}
        self._tools: tuple[Tokenizer, Tokenizer, Vocab, Vocab] | None = None

    # ---- reading -------------------------------------------------------------------------
    def _pairs(self, value: Any) -> tuple[list[tuple[str, str]], list[str], str]:
        if isinstance(value, pd.DataFrame):
            cols = list(value.columns[:2])
            return (
                [(str(a), str(b)) for a, b in value[cols].itertuples(index=False)],
                [],
                "the DataFrame",
            )
        if value in self.frames:
            return self._pairs(self.frames[value])
        path, _ = sources.resolve(str(value))
        assert path is not None
        pairs, notes = read_pairs(path)
        return pairs, notes, f"'{value}'"

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(train, val, test) indices of the data's pairs, drawn from the seed."""
        idx, test, val = np.arange(n), None, None
        if self.spec.test is None and self.spec.test_fraction:
            idx, test = holdout(idx, None, self.spec.test_fraction, self.seed)
        if self.spec.val is None and self.spec.val_fraction:
            idx, val = holdout(idx, None, self.spec.val_fraction, self.seed)
        return idx, val, test

    def load_data(self) -> DataSplits:
        if self.spec.data is None and "data" not in self.frames:
            raise ConfigError("no training data given", fix="Pass --data PAIRS.tsv or builtin:NAME")
        pairs, notes, source = self._pairs(self.frames.get("data", self.spec.data))
        if len(pairs) < 10:
            raise DataError(f"{source} has only {len(pairs)} pairs", fix="Give at least 10")
        train_idx, val_idx, test_idx = self._split(len(pairs))
        train = [pairs[i] for i in train_idx]
        spec = self.spec
        tok_src = Tokenizer.fit(
            [s for s, _ in train], spec.tokens, lowercase=spec.lowercase, vocab_size=spec.vocab_size
        )
        tok_tgt = Tokenizer.fit(
            [t for _, t in train], spec.tokens, lowercase=spec.lowercase, vocab_size=spec.vocab_size
        )
        vsrc = Vocab.fit((tok_src.split(s) for s, _ in train), spec.vocab_size)
        vtgt = Vocab.fit((tok_tgt.split(t) for _, t in train), spec.vocab_size)
        longest = max(len(tok_tgt.split(t)) for _, t in train)
        self._st = {
            "src_tokenizer": tok_src.state(),
            "tgt_tokenizer": tok_tgt.state(),
            "src_vocab": vsrc.itos,
            "tgt_vocab": vtgt.itos,
            "max_len": spec.max_len,
            "strict": spec.strict,
            "out_len": min(longest, spec.max_len) + 2,  # decoding steps, the end token included
            "beam": spec.beam,
        }
        self._tools = (tok_src, tok_tgt, vsrc, vtgt)
        notes.append(f"{len(train)} training pairs; vocabularies {len(vsrc)} -> {len(vtgt)} tokens")

        def given(name: str) -> Batch | None:
            value = getattr(spec, name)
            if value is None:
                return None
            ps, more, _ = self._pairs(value)
            notes.extend(more)
            return self._batch(ps, notes)

        def part(ix: np.ndarray | None) -> Batch | None:
            return None if ix is None else self._batch([pairs[i] for i in ix], notes)

        train_batch = self._batch(train, notes)
        return DataSplits(
            train=train_batch,
            val=part(val_idx) if val_idx is not None else given("val"),
            test=part(test_idx) if test_idx is not None else given("test"),
            notes=notes,
        )

    def tools(self) -> tuple[Tokenizer, Tokenizer, Vocab, Vocab]:
        if self._tools is None:
            st = self.state()
            self._tools = (
                Tokenizer(st["src_tokenizer"]),
                Tokenizer(st["tgt_tokenizer"]),
                Vocab(st["src_vocab"]),
                Vocab(st["tgt_vocab"]),
            )
        return self._tools

    def _sources(
        self, texts: list[str], notes: list[str]
    ) -> tuple[torch.Tensor, torch.Tensor, list[list[str]]]:
        st = self.state()
        tok, _, vocab, _ = self.tools()
        seqs, unknown, cut, shown = [], [], [0], []
        for i, text in enumerate(texts):
            tokens = tok.split(text)
            ids, unk = vocab.ids(tokens)
            unknown += unk
            ids = fit_length(ids, st["max_len"], st["strict"], f"source {i + 1}", cut) or [1]
            seqs.append(ids)
            shown.append(
                [
                    vocab.itos[j] if j != 1 else f"<unk:{t}>"
                    for j, t in zip(ids, tokens, strict=False)
                ]
            )
        notes += [n for n in unknown_note(unknown, "source token") if n not in notes]
        if cut[0]:
            notes.append(f"{cut[0]} source(s) longer than --max-len {st['max_len']} were truncated")
        x = torch.zeros(len(seqs), max(len(s) for s in seqs), dtype=torch.long)
        for i, s in enumerate(seqs):
            x[i, : len(s)] = torch.tensor(s)
        return x, torch.tensor([len(s) for s in seqs]), shown

    def _batch(self, pairs: list[tuple[str, str]], notes: list[str]) -> Batch:
        src, src_len, _ = self._sources([s for s, _ in pairs], notes)
        return {"src": src, "src_len": src_len, "tgt": self._targets(pairs, notes)}

    def _targets(self, pairs: list[tuple[str, str]], notes: list[str]) -> torch.Tensor:
        """(N, T) target ids framed by begin and end tokens, padded."""
        st = self.state()
        _, tok, _, vocab = self.tools()
        targets, cut = [], [0]
        for i, (_, t) in enumerate(pairs):
            ids, _ = vocab.ids(tok.split(t))
            targets.append(
                [BOS, *fit_length(ids, st["max_len"], st["strict"], f"target {i + 1}", cut), EOS]
            )
        if cut[0]:
            notes.append(f"{cut[0]} target(s) longer than --max-len {st['max_len']} were truncated")
        tgt = torch.zeros(len(targets), max(len(t) for t in targets), dtype=torch.long)
        for i, t in enumerate(targets):
            tgt[i, : len(t)] = torch.tensor(t)
        return tgt

    # ---- net -------------------------------------------------------------------------------
    def build_net(self, net: NetSpec) -> nn.Module:
        st = self.state()
        return create_net(
            net.name, src_vocab=len(st["src_vocab"]), tgt_vocab=len(st["tgt_vocab"]), **net.options
        )

    def forward(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        """Decoded translations as one tensor: column 0 the sequence log-probability, then
        the token ids (PAD after the end)."""
        model = getattr(net, "module", net)
        st = self.state()
        ids, logp = model.generate(batch["src"], batch["src_len"], st["out_len"], st["beam"])
        return torch.cat([logp[:, None], ids.float()], 1)

    def step(self, net: nn.Module, batch: Batch) -> StepOutput:
        tgt = batch["tgt"]
        logits = net(batch["src"], batch["src_len"], tgt[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD)
        outputs = logits.detach() if net.training else self.forward(net, batch)
        return StepOutput(loss=loss, outputs=outputs)

    # ---- use -------------------------------------------------------------------------------
    def use_beam(self, beam: int) -> None:
        if not 1 <= beam <= 32:
            raise ConfigError(f"--beam {beam} is out of range", fix="Use 1 (greedy) to 32")
        self.state()["beam"] = int(beam)

    def evaluates_own_data(self) -> bool:
        return True

    def encode(self, source: Any, *, with_targets: bool) -> Encoded:
        notes: list[str] = []
        texts = None if with_targets else as_texts(source)
        if texts is not None:
            src, src_len, shown = self._sources(texts, notes)
            return Encoded(
                {"src": src, "src_len": src_len}, notes, names=texts, extra={"tokens": shown}
            )
        pairs, more, name = self._pairs(source)
        notes += more
        if with_targets and source == self.spec.data:
            _, _, test = self._split(len(pairs))
            if test is not None:
                pairs = [pairs[i] for i in test]
                notes.append(
                    f"scored on the run's test split: {len(pairs)} pairs of {name} never "
                    "seen in training"
                )
        src, src_len, shown = self._sources([s for s, _ in pairs], notes)
        batch: Batch = {"src": src, "src_len": src_len}
        if with_targets:
            batch["tgt"] = self._targets(pairs, notes)
        return Encoded(batch, notes, names=[s for s, _ in pairs], extra={"tokens": shown})

    def translations(self, outputs: torch.Tensor) -> list[list[str]]:
        _, _, _, vocab = self.tools()
        return [vocab.tokens(row) for row in outputs[:, 1:].round().long().tolist()]

    def decode(self, outputs: torch.Tensor, batch: Batch) -> list[dict[str, Any]]:
        _, tok, _, _ = self.tools()
        return [
            {"translation": tok.join(tokens), "logprob": float(lp)}
            for tokens, lp in zip(self.translations(outputs), outputs[:, 0].tolist(), strict=True)
        ]

    def score(self, outputs: torch.Tensor, batch: Batch) -> dict[str, float]:
        import sacrebleu

        _, tok, _, vocab = self.tools()
        hyps = [tok.join(t) for t in self.translations(outputs)]
        refs = [tok.join(vocab.tokens(row)) for row in batch["tgt"].tolist()]
        return {
            "bleu": float(sacrebleu.corpus_bleu(hyps, [refs]).score),
            "chrf": float(sacrebleu.corpus_chrf(hyps, [refs]).score),
            "exact": float(np.mean([h == r for h, r in zip(hyps, refs, strict=True)])),
            "logprob": float(outputs[:, 0].mean()),
        }

    # ---- export ----------------------------------------------------------------------------
    def export_module(self, net: nn.Module) -> nn.Module:
        return _GreedyTranslator(getattr(net, "module", net), self.state()["out_len"])

    def export_snippet(self) -> str:
        return TOKENIZER_SNIPPET + TRANSLATE_SNIPPET

    # ---- serving ---------------------------------------------------------------------------
    def request_source(self, request: Request) -> Any:
        assert isinstance(request, TextsRequest)
        return list(request.texts)

    def describe_inputs(self) -> dict[str, Any]:
        st = self.state()
        return {
            "texts": "a JSON object {'texts': ['...', ...]}: sentences to translate",
            "tokens": st["src_tokenizer"]["kind"],
            "max_len": st["max_len"],
            "beam": st["beam"],
        }


class _GreedyTranslator(nn.Module):
    """The exported graph: encoder + greedy decoding unrolled for `out_len` steps (no
    data-dependent branch), returning what `TranslationTask.forward` returns."""

    def __init__(self, net: nn.Module, out_len: int) -> None:
        super().__init__()
        self.net, self.out_len = net, out_len

    def forward(self, src: torch.Tensor, src_len: torch.Tensor) -> torch.Tensor:
        self.net.spelled_out = True  # on the exporter's own copy of the net
        ids, logp = self.net._greedy(src, src_len, self.out_len, stop_early=False)
        return torch.cat([logp[:, None], ids.float()], 1)


TRANSLATE_SNIPPET = """\
texts = sys.argv[1:] or ["three hundred and twelve"]  # sentences to translate
split, join = make_split(prep["src_tokenizer"]), make_join(prep["tgt_tokenizer"])
src, src_len = to_ids(texts, prep["src_vocab"], split, prep["max_len"])
out = session.run(None, {"src": src, "src_len": src_len})[0]  # [log-prob, token ids...]
answer = []
for row in out:
    tokens = []
    for i in row[1:].astype(int):
        if i == 3:  # the end token
            break
        if i not in (0, 2):  # padding, begin
            tokens.append(prep["tgt_vocab"][i])
    answer.append({"translation": join(tokens), "logprob": float(row[0])})
"""
