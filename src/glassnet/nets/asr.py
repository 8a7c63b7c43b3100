"""Speech recognisers (RNN family `asr.*`): a convolutional front end over the log-mel
spectrogram, a bidirectional recurrent stack, and per-frame character scores for CTC.

Input (B, T, n_mels) float (normalised per clip) and lengths (B,); output
{"logits": (B, T', C), "lengths": (B,)} with T' = ceil(ceil(T / 2) / 2): the front end
halves time twice (a frame every 40 ms), which keeps the recurrent steps few while a
spoken character still gets a frame or more. Class 0 is CTC's blank.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from glassnet.nets._registry import Positive, Probability, register_net

DATA_ARGS = ("n_mels", "num_classes")


def out_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """Frames after the front end: each stride-2 convolution (kernel 3, padding 1) maps L
    frames to ceil(L / 2)."""
    return torch.div(torch.div(lengths + 1, 2, rounding_mode="floor") + 1, 2, rounding_mode="floor")


class CRNN(nn.Module):
    def __init__(
        self,
        *,
        n_mels: int,
        num_classes: int,
        cell: Literal["gru", "lstm"] = "gru",
        conv: int = 32,
        hidden: int = 128,
        layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.cell, self.num_classes = cell, num_classes
        self.front = nn.Sequential(
            nn.Conv2d(1, conv, 3, stride=2, padding=1, bias=False),  # time /2, mel /2
            nn.BatchNorm2d(conv),
            nn.ReLU(inplace=True),
            nn.Conv2d(conv, conv, 3, stride=(2, 1), padding=1, bias=False),  # time /2
            nn.BatchNorm2d(conv),
            nn.ReLU(inplace=True),
        )
        mel_out = (n_mels + 1) // 2
        self.proj = nn.Linear(conv * mel_out, hidden)
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(
            hidden,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, n_mels) -> the recurrent stack's inputs (B, T', hidden)."""
        f = self.front(x.unsqueeze(1))  # (B, conv, T', mel')
        b, c, t, m = f.shape
        return torch.relu(self.proj(f.permute(0, 2, 1, 3).reshape(b, t, c * m)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        e = self.drop(self.embed(x))  # (B, T', H)
        steps = out_lengths(lengths).clamp(min=1, max=e.shape[1])
        packed = pack_padded_sequence(e, steps.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.rnn(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=e.shape[1])  # (B, T', 2H)
        return {"logits": self.out(self.drop(h)), "lengths": steps}


def _builder(cell: Literal["gru", "lstm"]):  # noqa: ANN202
    def build(
        *,
        n_mels: int,
        num_classes: int,
        conv: Annotated[int, "channels of the two convolutions over the spectrogram"] = 32,
        hidden: Annotated[Positive, "units of each recurrent direction"] = 128,
        layers: Annotated[Positive, "recurrent layers"] = 2,
        dropout: Annotated[Probability, "dropout on the recurrent inputs and outputs"] = 0.1,
    ) -> CRNN:
        return CRNN(
            n_mels=n_mels,
            num_classes=num_classes,
            cell=cell,
            conv=conv,
            hidden=hidden,
            layers=layers,
            dropout=dropout,
        )

    build.__doc__ = f"Conv front end + bidirectional {cell.upper()} stack + CTC over characters."
    return build


register_net("asr.crnn_gru", data_args=DATA_ARGS)(_builder("gru"))
register_net("asr.crnn_lstm", data_args=DATA_ARGS)(_builder("lstm"))
