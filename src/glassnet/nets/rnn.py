"""RNN family: recurrent encoders (LSTM, GRU, vanilla RNN) and the forecaster built on them.

Two paths over the same weights: the fast path is torch's fused `nn.LSTM/GRU/RNN` (cuDNN on
GPUs); the transparent path (`run_transparent`) steps the cell one time step at a time in
plain tensor ops and records every hidden state, cell state and gate. A test asserts both
give the same outputs, so what `explain` shows is what the fast net computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

import torch
from torch import nn

from glassnet.nets._registry import Positive, Probability, register_net

Cell = Literal["lstm", "gru", "rnn"]
GATES = {
    "lstm": ("input", "forget", "cell", "output"),
    "gru": ("reset", "update", "new"),
    "rnn": (),
}
_MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass
class Trace:
    """Per layer and direction: hidden states (B, T, H), cell states (LSTM) and gates."""

    hidden: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    cell: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    gates: dict[tuple[int, int], dict[str, torch.Tensor]] = field(default_factory=dict)


def cell_step(
    kind: str,
    x_t: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor | None,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None,
    b_hh: torch.Tensor | None,
    nonlinearity: str,
) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
    gi = x_t @ w_ih.T + (b_ih if b_ih is not None else 0)
    gh = h @ w_hh.T + (b_hh if b_hh is not None else 0)
    if kind == "lstm":
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        assert c is not None
        c = f * c + i * g
        return o * c.tanh(), c, {"input": i, "forget": f, "cell": g, "output": o}
    if kind == "gru":
        ir, iz, in_ = gi.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
        n = (in_ + r * hn).tanh()
        return (1 - z) * n + z * h, None, {"reset": r, "update": z, "new": n}
    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    return act(gi + gh), None, {}


def run_transparent(
    module: nn.LSTM | nn.GRU | nn.RNN, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, Trace]:
    """Step `module`'s weights over x (B, T, F) (batch_first, zero initial state), recording
    everything. Returns (output (B, T, D*H), h_n (L*D, B, H), c_n or None, trace)."""
    kind = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}[type(module)]
    dirs = 2 if module.bidirectional else 1
    nonlin = getattr(module, "nonlinearity", "tanh")
    trace = Trace()
    layer_in = x
    h_last, c_last = [], []
    for layer in range(module.num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = getattr(module, "weight_ih" + sfx), getattr(module, "weight_hh" + sfx)
            b_ih = getattr(module, "bias_ih" + sfx, None) if module.bias else None
            b_hh = getattr(module, "bias_hh" + sfx, None) if module.bias else None
            b, t = layer_in.shape[0], layer_in.shape[1]
            h = layer_in.new_zeros(b, module.hidden_size)
            c = layer_in.new_zeros(b, module.hidden_size) if kind == "lstm" else None
            hs, cs, gates = [], [], {name: [] for name in GATES[kind]}
            steps = range(t - 1, -1, -1) if d else range(t)
            for step in steps:
                h, c, g = cell_step(kind, layer_in[:, step], h, c, w_ih, w_hh, b_ih, b_hh, nonlin)
                hs.append(h)
                if c is not None:
                    cs.append(c)
                for name, value in g.items():
                    gates[name].append(value)
            if d:  # recorded backwards in time; store in time order
                hs, cs = hs[::-1], cs[::-1]
                gates = {k: v[::-1] for k, v in gates.items()}
            out = torch.stack(hs, dim=1)  # (B, T, H)
            trace.hidden[(layer, d)] = out
            if cs:
                trace.cell[(layer, d)] = torch.stack(cs, dim=1)
            trace.gates[(layer, d)] = {k: torch.stack(v, dim=1) for k, v in gates.items()}
            outs.append(out)
            h_last.append(h)
            if c is not None:
                c_last.append(c)
        layer_in = torch.cat(outs, dim=-1)  # (B, T, D*H)
    h_n = torch.stack(h_last)
    c_n = torch.stack(c_last) if c_last else None
    return layer_in, h_n, c_n, trace


class Forecaster(nn.Module):
    """Reads `lookback` steps, forecasts `horizon` steps as `n_quantiles` ordered quantiles.

    Input x: (B, lookback + horizon, F). The first `lookback` rows carry everything known
    in the past (target, past and future covariates); the last `horizon` rows carry only the
    known-in-future covariates, in the last `n_future` columns (the rest is zero).
    Output: (B, horizon, n_quantiles), non-decreasing along the last axis.
    """

    def __init__(
        self,
        *,
        cell: Cell,
        n_features: int,
        n_future: int,
        lookback: int,
        horizon: int,
        n_quantiles: int,
        start_lag: int = 1,
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        decoder: Literal["direct", "autoregressive"] = "direct",
    ) -> None:
        super().__init__()
        self.cell, self.lookback, self.horizon = cell, lookback, horizon
        self.n_future, self.n_quantiles, self.decoder = n_future, n_quantiles, decoder
        self.num_outputs = horizon * n_quantiles
        self.start_lag = start_lag
        self.transparent = False  # explain sets this to record the encoder's trace
        self.last_trace: Trace | None = None
        self.encoder = _MODULES[cell](
            n_features,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        width = hidden * (2 if bidirectional else 1)
        # Features: the encoder's summary, the future covariates, and the raw past target
        # (for the linear "highway" that lets the net copy seasonal patterns, as LSTNet does).
        self.feature_width = width + horizon * n_future + lookback
        self.highway = nn.Linear(lookback, horizon * n_quantiles)
        _start_as_baseline(self.highway, lookback, horizon, n_quantiles, start_lag)
        if decoder == "direct":
            self.head = nn.Sequential(
                nn.Linear(self.feature_width - lookback, 2 * width),
                nn.ReLU(),
                nn.Linear(2 * width, horizon * n_quantiles),
            )
            nn.init.zeros_(self.head[-1].weight)  # so the first forecast is the highway's
            nn.init.zeros_(self.head[-1].bias)
        else:
            self.step_cell = nn.GRUCell(1 + n_future, width)
            self.head = nn.Linear(width, n_quantiles)

    def encode(self, past: torch.Tensor) -> torch.Tensor:
        """(B, L, F) -> the last layer's final state (B, D*H)."""
        if self.transparent:
            _, h_n, _, self.last_trace = run_transparent(self.encoder, past)
        else:
            _, state = self.encoder(past)
            h_n = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
        dirs = 2 if self.encoder.bidirectional else 1
        return torch.cat([h_n[-dirs + d] for d in range(dirs)], dim=-1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        past = x[:, : self.lookback]  # (B, L, F)
        future = x[:, self.lookback :, x.shape[-1] - self.n_future :]  # (B, H, n_future)
        return torch.cat([self.encode(past), future.flatten(1), past[..., 0]], dim=-1)  # (B, W)

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        b = f.shape[0]
        width = self.feature_width - self.horizon * self.n_future - self.lookback
        past_target = f[:, -self.lookback :]  # (B, L)
        highway = self.highway(past_target).view(b, self.horizon, self.n_quantiles)
        if self.decoder == "direct":
            raw = self.head(f[:, : -self.lookback]).view(b, self.horizon, self.n_quantiles)
        else:
            h = f[:, :width]
            future = f[:, width : width + self.horizon * self.n_future].view(
                b, self.horizon, self.n_future
            )
            prev = past_target[:, -1:]  # the last observed (scaled) value
            outs = []
            for t in range(self.horizon):
                h = self.step_cell(torch.cat([prev, future[:, t]], dim=-1), h)
                q = self.head(h)  # (B, Q)
                outs.append(q)
                prev = q[:, self.n_quantiles // 2 : self.n_quantiles // 2 + 1]
            raw = torch.stack(outs, dim=1)  # (B, H, Q)
        return _ordered(raw + highway)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def starting_rule(lookback: int, horizon: int, lag: int) -> torch.Tensor:
    """(horizon, lookback): the linear rule a forecaster starts from, as weights on the past
    window: lag m >= 1 repeats the value m steps back ("same month last year" for m = 12,
    the last value for m = 1); lag 0 forecasts the window's mean. A lag beyond the lookback
    falls back to the last value."""
    rule = torch.zeros(horizon, lookback)
    for h in range(horizon):
        if lag == 0:
            rule[h].fill_(1.0 / lookback)
        else:
            m = lag if lag <= lookback else 1
            rule[h, lookback - m + h % m] = 1.0
    return rule


def _start_as_baseline(
    highway: nn.Linear, lookback: int, horizon: int, n_quantiles: int, lag: int
) -> None:
    """The highway's median starts as the starting rule, so training begins at the baseline
    a net must beat and learns corrections instead of starting from noise."""
    with torch.no_grad():
        highway.weight.zero_()
        highway.bias.zero_()
        highway.weight[n_quantiles // 2 :: n_quantiles] = starting_rule(lookback, horizon, lag)


def _ordered(raw: torch.Tensor) -> torch.Tensor:
    """Quantiles that cannot cross: the middle one free, the others at softplus distances."""
    q = raw.shape[-1]
    mid = q // 2
    centre = raw[..., mid : mid + 1]
    up = torch.cumsum(nn.functional.softplus(raw[..., mid + 1 :]), dim=-1)
    down = torch.cumsum(nn.functional.softplus(raw[..., :mid].flip(-1)), dim=-1).flip(-1)
    return torch.cat([centre - down, centre, centre + up], dim=-1)


DATA_ARGS = ("n_features", "n_future", "lookback", "horizon", "n_quantiles", "start_lag")


def _builder(cell: Cell, doc: str):  # noqa: ANN202
    def build(
        *,
        n_features: int,
        n_future: int,
        lookback: int,
        horizon: int,
        n_quantiles: int,
        start_lag: int = 1,
        hidden: Annotated[Positive, "units in each recurrent layer"] = 64,
        layers: Annotated[Positive, "stacked recurrent layers"] = 1,
        bidirectional: Annotated[bool, "read the lookback window both ways (encoder)"] = False,
        dropout: Annotated[Probability, "dropout between recurrent layers"] = 0.0,
        decoder: Annotated[
            Literal["direct", "autoregressive"],
            "direct: all steps at once; autoregressive: one step at a time",
        ] = "direct",
    ) -> Forecaster:
        return Forecaster(
            cell=cell,
            n_features=n_features,
            n_future=n_future,
            lookback=lookback,
            horizon=horizon,
            n_quantiles=n_quantiles,
            start_lag=start_lag,
            hidden=hidden,
            layers=layers,
            bidirectional=bidirectional,
            dropout=dropout,
            decoder=decoder,
        )

    build.__doc__ = doc
    return build


register_net("rnn.lstm", data_args=DATA_ARGS)(
    _builder("lstm", "LSTM encoder: gated memory, the default for sequences.")
)
register_net("rnn.gru", data_args=DATA_ARGS)(
    _builder("gru", "GRU encoder: LSTM's lighter cousin (two gates, no cell state).")
)
register_net("rnn.rnn", data_args=DATA_ARGS)(
    _builder("rnn", "Vanilla (Elman) RNN encoder: the original, forgets quickly.")
)
