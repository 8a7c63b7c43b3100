"""ANN family: the multilayer perceptron.

Input is one float tensor (B, F). When the table has high-cardinality categories, their
integer codes ride in the last `len(cardinalities)` columns and pass through learned
embeddings; everything else (numbers, one-hot columns) goes straight to the first layer.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from glassnet.nets._registry import Positive, Probability, register_net

Activation = Literal["relu", "gelu", "tanh", "silu", "sigmoid"]
Norm = Literal["none", "batch", "layer"]
ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
}

DATA_ARGS = ("in_features", "num_outputs", "cardinalities")


class MLP(nn.Module):
    """Multilayer perceptron: [embeddings] -> (linear -> norm -> act -> dropout) x N -> linear."""

    def __init__(
        self,
        *,
        in_features: int,
        num_outputs: int,
        hidden: tuple[int, ...] = (128, 64),
        activation: Activation = "relu",
        dropout: float = 0.1,
        norm: Norm = "none",
        cardinalities: tuple[int, ...] = (),
        embed_dim: int = 8,
    ) -> None:
        super().__init__()
        if in_features < 1 or num_outputs < 1:
            raise ValueError(
                f"MLP needs in_features >= 1 and num_outputs >= 1, "
                f"got {in_features} and {num_outputs}"
            )
        self.num_outputs = num_outputs
        self.n_embedded = len(cardinalities)
        self.embeddings = nn.ModuleList(
            nn.Embedding(card, min(embed_dim, card)) for card in cardinalities
        )
        width = in_features - self.n_embedded + sum(e.embedding_dim for e in self.embeddings)
        layers: list[nn.Module] = []
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(h))
            elif norm == "layer":
                layers.append(nn.LayerNorm(h))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.feature_width = width
        self.head = nn.Linear(width, num_outputs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.n_embedded:
            dense, codes = x[:, : -self.n_embedded], x[:, -self.n_embedded :].long()
            embedded = [emb(codes[:, i]) for i, emb in enumerate(self.embeddings)]
            x = torch.cat([dense, *embedded], dim=1)  # (B, F_dense + sum(embed dims))
        return self.body(x)

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _builder(default_hidden: tuple[int, ...], default_dropout: float, doc: str):  # noqa: ANN202
    def build(
        *,
        in_features: int,
        num_outputs: int,
        cardinalities: tuple[int, ...] = (),
        hidden: Annotated[tuple[Positive, ...], "widths of the hidden layers, e.g. 128,64"] = (
            default_hidden
        ),
        activation: Annotated[Activation, "activation after each hidden layer"] = "relu",
        dropout: Annotated[Probability, "dropout probability after each hidden layer"] = (
            default_dropout
        ),
        norm: Annotated[Norm, "normalisation after each hidden linear layer"] = "none",
        embed_dim: Annotated[
            Positive, "largest embedding size for high-cardinality categories"
        ] = 8,
    ) -> MLP:
        return MLP(
            in_features=in_features,
            num_outputs=num_outputs,
            hidden=tuple(hidden),
            activation=activation,
            dropout=dropout,
            norm=norm,
            cardinalities=tuple(cardinalities),
            embed_dim=embed_dim,
        )

    build.__doc__ = doc
    return build


register_net("mlp.small", data_args=DATA_ARGS)(
    _builder((128, 64), 0.1, "Two hidden layers (128, 64): a sound default for most tables.")
)
register_net("mlp.large", data_args=DATA_ARGS)(
    _builder((512, 256, 128), 0.2, "Three wide hidden layers (512, 256, 128) for big tables.")
)
register_net("mlp.linear", data_args=DATA_ARGS)(
    _builder((), 0.0, "No hidden layer: logistic / linear regression, the baseline.")
)
