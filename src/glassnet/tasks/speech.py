"""Speech recognition: clips in, transcripts out, with a convolutional + recurrent net and
CTC over characters (`asr.*`).

Data: a folder of WAV / FLAC / OGG clips with `transcripts.csv` (path,text), or the
LibriSpeech or Common Voice layouts; `train/` / `val/` / `test/` sub-folders give splits.
Clips are read with soundfile, resampled to 16 kHz, mixed to mono and turned into log-mel
features (torch), normalised per clip; training masks random time and frequency bands
(SpecAugment). Decoding is greedy or CTC prefix beam search (`--beam`). Metrics: word and
character error rates (jiwer).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from glassnet.config import DataSpec, NetSpec
from glassnet.data.audio import (
    AUDIO_SUFFIXES,
    LOG_MEL_SNIPPET,
    UnreadableAudio,
    decode_audio,
    log_mel,
)
from glassnet.data.speech_sets import (
    SpeechClips,
    SpeechSet,
    Utterance,
    check_audio,
    normalise_text,
    read_speech,
)
from glassnet.data.splits import Batch, TensorSplit
from glassnet.errors import ConfigError, DataError
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
from glassnet.tasks.ctc import CharNgram, greedy, prefix_beam
from glassnet.tasks.messages import MAX_FILES, AudioRequest, Request, UploadedFile
from glassnet.tasks.splitting import split_indices


class SpeechDataSpec(DataSpec):
    max_seconds: float = Field(20.0, gt=0, le=600, description="longest clip accepted (seconds)")
    n_mels: int = Field(64, ge=16, le=128, description="mel bands of the features")
    spec_augment: Literal["on", "off"] = Field(
        "on", description="mask random time and frequency bands while training (SpecAugment)"
    )
    skip_bad: bool = Field(False, description="skip unreadable, empty or too long clips")


class SpeechDecoding(DecodeOptions):
    # Measured on spoken digits in unheard accents (900 clips): greedy WER 16.0 %, beam 8
    # 13.9 %, beam 8 + prior 0.3 / 0.6 / 1.0 / 2.0: 7.1 / 6.4 / 4.1 / 5.8 %. The default
    # stays greedy because validation decodes every epoch with it, and a Python beam search
    # over the flat outputs of a young net cost the test suite two minutes; the prior
    # weight 0.5 (below that set's best) applies whenever --beam is above 1.
    beam: int = Field(
        1, ge=1, le=64, description="CTC beam width (1 = greedy; 8 with the prior is best)"
    )
    prior: float = Field(
        0.5,
        ge=0.0,
        le=5.0,
        description="weight of the character trigram prior fitted on the training "
        "transcripts, in beam search (0 = none)",
    )


WORST = 10  # utterances listed by evaluate


@register_task
class SpeechTask(Task):
    """Spoken clips in, transcripts out."""

    name: ClassVar[str] = "speech"
    data_spec: ClassVar[type[DataSpec]] = SpeechDataSpec
    default_net: ClassVar[str] = "asr.crnn_gru"
    # CTC stalls at all-blank output when the start is too hot: warm up over a tenth.
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 30,
        "batch_size": 32,
        "lr": 2e-3,
        "warmup": 0.1,
        "patience": 8,
        "monitor": "val_wer",
    }
    takes_objects: ClassVar[bool] = False
    decode_options: ClassVar[type[DecodeOptions]] = SpeechDecoding
    request_model = AudioRequest
    export_outputs: ClassVar[tuple[str, ...]] = ("logp", "frames")  # not "lengths": an input
    export_axes: ClassVar[dict[str, dict[int, str]]] = {"x": {1: "frames"}}
    export_requires: ClassVar[tuple[str, ...]] = ("soundfile", "scipy")
    spec: SpeechDataSpec
    _last_transcripts: tuple[torch.Tensor, DecodeOptions, list[str]] | None = None

    # ---- data ----------------------------------------------------------------------------
    def _read(self, option: str) -> dict[str, SpeechSet] | None:
        src = self.source(option)
        if src is None:
            return None
        if src.path is None:
            raise ConfigError(
                f"speech is read from a folder of clips, not from {src.name}",
                fix="Pass a folder with transcripts.csv (see `glassnet data make spoken-digits`)",
            )
        return read_speech(src.path)

    def _checked(self, data: SpeechSet) -> tuple[list[Utterance], list[str], list[float]]:
        check = check_audio(data.items, data.source, self.spec.max_seconds, self.spec.skip_bad)
        return [data.items[i] for i in check.good], data.notes + check.notes, check.seconds

    def load_data(self) -> DataSplits:
        layout = self._read("data")
        assert layout is not None
        train_set = layout.get("train") or layout.get("all")
        assert train_set is not None
        given = {k: v for k, v in layout.items() if k in ("val", "test")}
        for option in ("val", "test"):
            other = self._read(option)
            if other is not None:
                given[option] = next(iter(other.values()))
        items, notes, seconds = self._checked(train_set)
        texts = [normalise_text(u.text or "") for u in items]
        empty = [str(u.path) for u, t in zip(items, texts, strict=True) if not t]
        if empty:
            raise DataError(
                f"{len(empty)} clip(s) in {train_set.source} have an empty transcript, e.g. "
                + ", ".join(empty[:3]),
                fix="Write what is said, or remove those clips",
            )
        alphabet = sorted(set("".join(texts)))
        self._st = {
            "alphabet": alphabet,  # class k + 1 is alphabet[k]; class 0 is CTC's blank
            "n_mels": self.spec.n_mels,
            "max_seconds": self.spec.max_seconds,
            "spec_augment": self.spec.spec_augment == "on",
        }
        train_idx, val_idx, test_idx = split_indices(
            len(items),
            val_fraction=self.spec.val_fraction,
            test_fraction=self.spec.test_fraction,
            seed=self.seed,
            given=set(given),
        )
        clips = SpeechClips(
            [Utterance(u.path, t) for u, t in zip(items, texts, strict=True)],
            self.spec.n_mels,
            self.text_ids,
        )
        splits: dict[str, Any] = {}
        for key, idx in (("val", val_idx), ("test", test_idx)):
            if idx is not None:
                splits[key] = clips.subset(idx)
            elif key in given:
                held, more, _ = self._checked(given[key])
                notes += more + self._unknown_chars(held, given[key].source)
                splits[key] = SpeechClips(held, self.spec.n_mels, self.text_ids)
        trained_on = [texts[i] for i in train_idx]
        self._st["prior"] = CharNgram.fit(
            [self.text_ids(t) for t in trained_on], classes=len(alphabet) + 1
        ).to_state()
        notes.append(
            f"{len(items)} clips ({sum(seconds) / 60:.1f} minutes, {np.mean(seconds):.1f} s "
            f"on average), alphabet of {len(alphabet)}: {''.join(alphabet)!r}"
        )
        return DataSplits(
            train=clips.subset(train_idx),
            val=splits.get("val"),
            test=splits.get("test"),
            notes=notes,
        )

    def text_ids(self, text: str) -> list[int]:
        """Characters -> class ids (1-based); characters outside the alphabet are dropped."""
        index = {c: i + 1 for i, c in enumerate(self.state()["alphabet"])}
        return [index[c] for c in normalise_text(text) if c in index]

    def _unknown_chars(self, items: list[Utterance], source: str) -> list[str]:
        alphabet = set(self.state()["alphabet"])
        unknown = sorted({c for u in items for c in normalise_text(u.text or "")} - alphabet)
        if not unknown:
            return []
        return [
            f"transcripts in {source} use characters the model never saw "
            f"({''.join(unknown)!r}); they count as errors it cannot avoid"
        ]

    def _ids_text(self, ids: list[int]) -> str:
        alphabet = self.state()["alphabet"]
        return "".join(alphabet[i - 1] for i in ids if 0 < i <= len(alphabet)).strip()

    # ---- net -----------------------------------------------------------------------------
    def build_net(self, net: NetSpec) -> nn.Module:
        st = self.state()
        return create_net(
            net.name, n_mels=st["n_mels"], num_classes=len(st["alphabet"]) + 1, **net.options
        )

    def export_feeds(self, batch: Batch) -> dict[str, torch.Tensor]:
        return dict(zip(("x", "lengths"), _padded(batch["x"]), strict=True))

    def net_inputs(self, net: nn.Module, batch: Batch) -> tuple[torch.Tensor, ...]:
        x, lengths = _padded(batch["x"])
        device = next(net.parameters()).device
        x, lengths = normalise_clips(x.to(device), lengths.to(device))
        if net.training and self.state()["spec_augment"]:
            x = spec_augment(x, lengths)
        return x, lengths

    def forward(self, net: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        out = net(*self.net_inputs(net, batch))
        return {"logp": out["logits"].float().log_softmax(-1), "lengths": out["lengths"]}

    def step(self, net: nn.Module, batch: Batch) -> StepOutput:
        out = self.forward(net, batch)
        targets = batch["y"]
        device = out["logp"].device
        loss = F.ctc_loss(
            out["logp"].transpose(0, 1),  # (T', B, C)
            torch.cat(targets).to(device),
            out["lengths"],
            torch.tensor([len(t) for t in targets], device=device),
            blank=0,
            zero_infinity=True,  # a clip too short for its transcript adds nothing
        )
        return StepOutput(loss=loss, outputs=out)

    # ---- answers -------------------------------------------------------------------------
    def transcripts(self, outputs: dict[str, torch.Tensor]) -> list[str]:
        """The decoded texts; remembered for the last outputs and options, because
        `evaluate` scores them and then lists the worst (a beam search is not free)."""
        last = self._last_transcripts
        if last is not None and last[0] is outputs["logp"] and last[1] == self.decoding:
            return last[2]
        texts = self._search(outputs)
        self._last_transcripts = (outputs["logp"], self.decoding, texts)
        return texts

    def _search(self, outputs: dict[str, torch.Tensor]) -> list[str]:
        beam = self.decoding.beam  # type: ignore[attr-defined]
        weight = self.decoding.prior  # type: ignore[attr-defined]
        lm = self.state().get("prior")
        prior = CharNgram.from_state(lm) if lm and weight > 0 and beam > 1 else None
        logp, lengths = outputs["logp"].float().numpy(), outputs["lengths"].tolist()
        return [
            self._ids_text(
                greedy(lp[:n])
                if beam <= 1
                else prefix_beam(lp[:n], beam, prior=prior, weight=weight)
            )
            for lp, n in zip(logp, lengths, strict=True)
        ]

    def decode(self, outputs: Any, batch: Batch) -> list[dict[str, Any]]:
        return [{"transcript": t} for t in self.transcripts(outputs)]

    def score(self, outputs: Any, batch: Batch) -> dict[str, float]:
        import jiwer

        hyps = self.transcripts(outputs)
        refs = [self._ids_text(y.tolist()) for y in batch["y"]]
        pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r]
        refs, hyps = [r for r, _ in pairs], [h for _, h in pairs]
        return {
            "wer": float(jiwer.wer(refs, hyps)),
            "cer": float(jiwer.cer(refs, hyps)),
            "exact": float(np.mean([r == h for r, h in pairs])),
            "empty": float(np.mean([not h for h in hyps])),
        }

    def worst_samples(self, outputs: Any, batch: Batch, names: list[str] | None) -> list[dict]:
        import jiwer

        hyps = self.transcripts(outputs)
        rows = []
        for k, (y, hyp) in enumerate(zip(batch["y"], hyps, strict=True)):
            ref = self._ids_text(y.tolist())
            if ref:
                rows.append(
                    {
                        "clip": names[k] if names else str(k),
                        "reference": ref,
                        "hypothesis": hyp,
                        "cer": round(float(jiwer.cer(ref, hyp)), 4),
                    }
                )
        return sorted(rows, key=lambda r: -r["cer"])[:WORST]

    def advise(self, epoch: int, metrics: dict[str, float]) -> str | None:
        if epoch >= 1 and metrics.get("val_empty", 0.0) >= 0.99:
            return (
                "the net still answers only blanks (every transcript is empty); CTC often "
                "waits a few epochs, but if this persists lower --lr or raise --warmup"
            )
        return None

    def output_tokens(self, outputs: Any) -> list[list[str]] | None:
        return [list(t) for t in self.transcripts(outputs)]

    def vocabularies(self) -> dict[str, list[str]]:
        return {"output": ["<blank>", *self.state()["alphabet"]]}

    # ---- use -----------------------------------------------------------------------------
    def encode(self, source: Any, *, with_targets: bool) -> Encoded:
        st = self.state()
        if isinstance(source, list) and source and isinstance(source[0], UploadedFile):
            return self._encode_uploads(source)
        if with_targets:
            src = sources.open_source(source)
            if src.path is None:
                raise ConfigError("evaluate reads a folder of clips with transcripts")
            layout = read_speech(src.path)
            data = layout.get("test") or layout.get("val") or next(iter(layout.values()))
            items, notes, _ = self._checked(data)
            notes += self._unknown_chars(items, data.source)
            clips = SpeechClips(items, st["n_mels"], self.text_ids)
            return Encoded(clips, notes, names=[str(u.path) for u in items])
        paths: list[Utterance] = []
        for item in source if isinstance(source, (list, tuple)) else [source]:
            src = sources.open_source(item)
            if src.path is None:
                raise ConfigError(f"speech is read from audio files, not from {src.name}")
            found = (
                [p for p in sorted(src.path.rglob("*")) if p.suffix.lower() in AUDIO_SUFFIXES]
                if src.path.is_dir()
                else [src.path]
            )
            paths += [Utterance(p, None) for p in found]
        if not paths:
            raise DataError("no audio files found in the inputs", fix="Pass WAV/FLAC/OGG files")
        items, notes, _ = self._checked(SpeechSet(paths, "the inputs"))
        return Encoded(SpeechClips(items, st["n_mels"]), notes, names=[str(u.path) for u in items])

    def _encode_uploads(self, uploads: list[UploadedFile]) -> Encoded:
        import io

        st = self.state()
        features = []
        for up in uploads:
            try:
                clip = decode_audio(io.BytesIO(up.data))
            except UnreadableAudio as e:
                raise DataError(
                    f"upload '{up.name}' is not audio glassnet can read ({e})",
                    fix="Send WAV, FLAC or OGG files",
                ) from None
            if len(clip.samples) / 16_000 > st["max_seconds"]:
                raise DataError(
                    f"upload '{up.name}' is longer than {st['max_seconds']:g} s",
                    fix="Send shorter clips",
                )
            features.append(log_mel(torch.from_numpy(clip.samples), st["n_mels"]))
        return Encoded(TensorSplit({"x": features}), names=[u.name for u in uploads])

    def request_source(self, request: Request) -> Any:
        assert isinstance(request, AudioRequest)
        return list(request.files)

    def describe_inputs(self) -> dict[str, Any]:
        st = self.state()
        return {
            "files": "audio clips (WAV, FLAC, OGG) as multipart 'files'",
            "max_seconds": st["max_seconds"],
            "alphabet": "".join(st["alphabet"]),
            "max_files": MAX_FILES,
        }

    # ---- export ----------------------------------------------------------------------------
    def export_module(self, net: nn.Module) -> nn.Module:
        return _ExportedRecogniser(net)

    def from_export(self, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logp": outputs["logp"], "lengths": outputs["frames"]}

    def export_snippet(self) -> str:
        return LOG_MEL_SNIPPET + SPEECH_SNIPPET


def _padded(features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(T_i, n_mels) clips -> (B, T_max, n_mels) zero-padded, and the lengths (B,)."""
    lengths = torch.tensor([len(f) for f in features])
    x = torch.zeros(len(features), int(lengths.max()), features[0].shape[1])
    for i, f in enumerate(features):
        x[i, : len(f)] = f
    return x, lengths


def normalise_clips(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each clip's features to zero mean and unit spread per mel band, over its own frames
    (loudness and microphone differ from clip to clip); padding stays 0."""
    mask = (torch.arange(x.shape[1], device=x.device)[None] < lengths[:, None]).float()
    count = mask.sum(1).clamp(min=1)[:, None]  # (B, 1)
    mean = (x * mask[..., None]).sum(1) / count  # (B, M)
    var = (((x - mean[:, None]) * mask[..., None]) ** 2).sum(1) / count
    return (x - mean[:, None]) / (var[:, None] + 1e-5).sqrt() * mask[..., None], lengths


def spec_augment(
    x: torch.Tensor, lengths: torch.Tensor, bands: int = 2, width: int = 8, spans: int = 2
) -> torch.Tensor:
    """Zero `bands` random mel bands (up to `width` wide) and `spans` random time spans (up
    to a tenth of each clip) per clip: the net learns not to rely on any one of them."""
    b, t, m = x.shape
    keep = torch.ones_like(x)
    for i in range(b):
        for _ in range(bands):
            w = int(torch.randint(0, width + 1, ()))
            f0 = int(torch.randint(0, max(m - w, 1), ()))
            keep[i, :, f0 : f0 + w] = 0
        longest = max(int(lengths[i]) // 10, 1)
        for _ in range(spans):
            w = int(torch.randint(0, longest + 1, ()))
            t0 = int(torch.randint(0, max(int(lengths[i]) - w, 1), ()))
            keep[i, t0 : t0 + w] = 0
    return x * keep


class _ExportedRecogniser(nn.Module):
    """The exported graph: raw log-mel features (B, T, n_mels) and lengths in; per-frame
    log-probabilities (B, T', C) and frame counts out (decode them greedily)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, lengths = normalise_clips(x, lengths)
        out = self.net(x, lengths)
        return out["logits"].float().log_softmax(-1), out["lengths"]


SPEECH_SNIPPET = """\
paths = sys.argv[1:] or ["clip.wav"]  # audio files as arguments
feats = [log_mel(read(p), prep["n_mels"]) for p in paths]
lengths = np.array([len(f) for f in feats], dtype=np.int64)
x = np.zeros((len(feats), lengths.max(), prep["n_mels"]), dtype=np.float32)
for i, f in enumerate(feats):
    x[i, : len(f)] = f
logp, frames = session.run(None, {"x": x, "lengths": lengths})
answer = []
for lp, n, path in zip(logp, frames, paths):
    best, text, last = lp[:n].argmax(axis=1), [], 0  # greedy CTC: merge repeats, drop blanks
    for c in best:
        if c != last and c != 0:
            text.append(prep["alphabet"][c - 1])
        last = c
    answer.append({"source": path, "transcript": "".join(text).strip()})
"""
