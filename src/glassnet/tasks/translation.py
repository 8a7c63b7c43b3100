"""Translation: an encoder-decoder RNN with attention learns source -> target token
sequences from tab-separated pairs; greedy or beam search decodes; BLEU and chrF (sacrebleu)
score it.

The run's own test split is re-drawn from the seed when `evaluate` gets no data, so its
pairs never took part in training.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from glassnet.config import DataSpec, NetSpec
from glassnet.data.splits import Batch, TensorSplit
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
from glassnet.errors import DataError
from glassnet.nets import create_net
from glassnet.tasks import sources
from glassnet.tasks._base import (
    DataSplits,
    DecodeOptions,
    Encoded,
    StepOutput,
    Task,
    register_task,
)
from glassnet.tasks.messages import Request, TextsRequest
from glassnet.tasks.splitting import split_indices
from glassnet.tasks.text_inputs import as_texts


class TranslationDataSpec(DataSpec):
    tokens: Literal["word", "char", "subword"] = Field(
        "word", description="split both sides into words, characters or subwords"
    )
    vocab_size: int = Field(8000, ge=16, description="largest vocabulary per side")
    lowercase: bool = Field(False, description="lower-case both sides before tokenizing")
    max_len: int = Field(60, ge=2, description="longest sequence read per side (tokens)")
    strict: bool = Field(False, description="refuse pairs longer than --max-len")
    beam: int = Field(
        1, ge=1, le=32, description="beam width when decoding (1 = greedy); predict can change it"
    )


class TranslationDecoding(DecodeOptions):
    beam: int = Field(1, ge=1, le=32, description="beam width for decoding (1 = greedy)")


@register_task
class TranslationTask(Task):
    """A sentence in, its translation out."""

    name: ClassVar[str] = "translation"
    data_spec: ClassVar[type[DataSpec]] = TranslationDataSpec
    default_net: ClassVar[str] = "seq2seq.gru"
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 30, "patience": 6}
    request_model: ClassVar[type[Request]] = TextsRequest
    input_keys: ClassVar[tuple[str, ...]] = ("src", "src_len")
    answer_keys: ClassVar[tuple[str, ...]] = ("tgt",)
    decode_options: ClassVar[type[DecodeOptions]] = TranslationDecoding
    export_axes: ClassVar[dict[str, dict[int, str]]] = {"src": {1: "steps"}}
    export_outputs: ClassVar[tuple[str, ...]] = ("ids", "logprob")
    spec: TranslationDataSpec

    def __init__(
        self, spec: TranslationDataSpec, state: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        super().__init__(spec, state, **kw)
        self._tools: tuple[Tokenizer, Tokenizer, Vocab, Vocab] | None = None

    # ---- reading -------------------------------------------------------------------------
    def _pairs(self, value: Any) -> tuple[list[tuple[str, str]], list[str], str]:
        src = sources.open_source(value)
        if src.path is None:
            frame = sources.frame_of(src)
            cols = list(frame.columns[:2])
            return (
                [(str(a), str(b)) for a, b in frame[cols].itertuples(index=False)],
                [],
                src.name,
            )
        pairs, notes = read_pairs(src.path)
        return pairs, notes, src.name

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(train, val, test) indices of the data's pairs, drawn from the seed."""
        return split_indices(
            n,
            val_fraction=self.spec.val_fraction,
            test_fraction=self.spec.test_fraction,
            seed=self.seed,
            given={k for k in ("val", "test") if getattr(self.spec, k) is not None},
        )

    def load_data(self) -> DataSplits:
        data = self.source("data")
        assert data is not None
        pairs, notes, source = self._pairs(data)
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

        def given(name: str) -> TensorSplit | None:
            src = self.source(name)
            if src is None:
                return None
            ps, more, _ = self._pairs(src)
            notes.extend(more)
            return TensorSplit(self._batch(ps, notes))

        def part(ix: np.ndarray | None) -> TensorSplit | None:
            return None if ix is None else TensorSplit(self._batch([pairs[i] for i in ix], notes))

        train_batch = TensorSplit(self._batch(train, notes))
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

    def forward(self, net: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        """Decoded translations: token ids (B, out_len), PAD after the end, and each
        sequence's log-probability (B,)."""
        model = getattr(net, "module", net)
        beam = self.decoding.beam  # type: ignore[attr-defined]
        ids, logp = model.generate(batch["src"], batch["src_len"], self.state()["out_len"], beam)
        return {"ids": ids, "logprob": logp}

    def step(self, net: nn.Module, batch: Batch) -> StepOutput:
        tgt = batch["tgt"]
        logits = net(batch["src"], batch["src_len"], tgt[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD)
        outputs = logits.detach() if net.training else self.forward(net, batch)
        return StepOutput(loss=loss, outputs=outputs)

    # ---- use -------------------------------------------------------------------------------
    def default_decoding(self) -> dict[str, Any]:
        return {"beam": self.state()["beam"]}

    def evaluates_own_data(self) -> bool:
        return True

    def encode(self, source: Any, *, with_targets: bool) -> Encoded:
        notes: list[str] = []
        texts = None if with_targets else as_texts(source)
        if texts is not None:
            src, src_len, shown = self._sources(texts, notes)
            return Encoded(
                TensorSplit({"src": src, "src_len": src_len}),
                notes,
                names=texts,
                extra={"tokens": shown},
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
        return Encoded(
            TensorSplit(batch), notes, names=[s for s, _ in pairs], extra={"tokens": shown}
        )

    def output_tokens(self, outputs: Any) -> list[list[str]]:
        _, _, _, vocab = self.tools()
        return [vocab.tokens(row) for row in outputs["ids"].tolist()]

    def vocabularies(self) -> dict[str, list[str]]:
        st = self.state()
        return {"source": list(st["src_vocab"]), "target": list(st["tgt_vocab"])}

    def decode(self, outputs: Any, batch: Batch) -> list[dict[str, Any]]:
        _, tok, _, _ = self.tools()
        return [
            {"translation": tok.join(tokens), "logprob": float(lp)}
            for tokens, lp in zip(
                self.output_tokens(outputs), outputs["logprob"].tolist(), strict=True
            )
        ]

    def score(self, outputs: Any, batch: Batch) -> dict[str, float]:
        import sacrebleu

        _, tok, _, vocab = self.tools()
        hyps = [tok.join(t) for t in self.output_tokens(outputs)]
        refs = [tok.join(vocab.tokens(row)) for row in batch["tgt"].tolist()]
        return {
            "bleu": float(sacrebleu.corpus_bleu(hyps, [refs]).score),
            "constant_bleu": _constant_bleu(tuple(refs)),
            "chrf": float(sacrebleu.corpus_chrf(hyps, [refs]).score),
            "exact": float(np.mean([h == r for h, r in zip(hyps, refs, strict=True)])),
            "logprob": float(outputs["logprob"].float().mean()),
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

    def request_example(self) -> dict[str, Any] | None:
        _, _, vocab, _ = self.tools()
        return {"texts": [" ".join(vocab.itos[4:9]) or "an example"]}

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

    def forward(
        self, src: torch.Tensor, src_len: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.net.spelled_out = True  # on the exporter's own copy of the net
        ids, logp = self.net._greedy(src, src_len, self.out_len, stop_early=False)
        return ids, logp


TRANSLATE_SNIPPET = """\
texts = sys.argv[1:] or ["three hundred and twelve"]  # sentences to translate
split, join = make_split(prep["src_tokenizer"]), make_join(prep["tgt_tokenizer"])
src, src_len = to_ids(texts, prep["src_vocab"], split, prep["max_len"])
ids, logprob = session.run(None, {"src": src, "src_len": src_len})  # token ids, log-prob
answer = []
for row, lp in zip(ids, logprob):
    tokens = []
    for i in row:
        if i == 3:  # the end token
            break
        if i not in (0, 2):  # padding, begin
            tokens.append(prep["tgt_vocab"][i])
    answer.append({"translation": join(tokens), "logprob": float(lp)})
"""


@functools.lru_cache(maxsize=4)
def _constant_bleu(refs: tuple[str, ...]) -> float:
    """The floor: BLEU of one answer (the most common reference) for every input. It depends
    on the references alone, so the validation after each epoch computes it once."""
    import sacrebleu

    constant = [Counter(refs).most_common(1)[0][0]] * len(refs)
    return float(sacrebleu.corpus_bleu(constant, [list(refs)]).score)
