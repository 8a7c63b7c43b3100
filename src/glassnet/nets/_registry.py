"""The net registry: named builders for the three families (`mlp.*`, `cnn.*`, `rnn.*`).

A builder is a function with keyword-only, typed parameters. Parameters the task fills from
the data (input width, number of outputs, ...) are named in `data_args`; every other
parameter is a user option, documented with `Annotated[type, "help text"]` so the CLI,
config validation and `glassnet list nets` all read the same signature. Ranges ride along
as `annotated_types` constraints (`Probability`, `Positive`): config validation refuses
`--dropout 2` or `--hidden 0` before any data loads.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from annotated_types import Ge, Gt, Lt
from torch import nn

Probability = Annotated[float, Ge(0), Lt(1)]  # dropout rates
Positive = Annotated[int, Gt(0)]  # widths, layer counts
Scale = Annotated[float, Gt(0)]  # multipliers


@dataclass(frozen=True)
class NetEntry:
    name: str
    family: str
    builder: Callable[..., nn.Module]
    data_args: tuple[str, ...]
    summary: str

    def options(self) -> dict[str, tuple[Any, Any, str]]:
        """User options as {name: (type, default, help)}; the type carries its range
        constraints (Annotated) where the builder declares them."""
        out: dict[str, tuple[Any, Any, str]] = {}
        hints = get_type_hints(self.builder, include_extras=True)
        for p in inspect.signature(self.builder).parameters.values():
            if p.name in self.data_args:
                continue
            ann, doc = hints.get(p.name, Any), ""
            if get_origin(ann) is Annotated:
                base, *meta = get_args(ann)
                doc = next((m for m in meta if isinstance(m, str)), "")
                limits = [m for m in meta if not isinstance(m, str)]
                ann = Annotated[(base, *limits)] if limits else base  # type: ignore[valid-type]
            out[p.name] = (ann, p.default, doc)
        return out


_NETS: dict[str, NetEntry] = {}


def register_net(
    name: str, *, data_args: tuple[str, ...]
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register `builder` under `family.variant`; a duplicate name raises."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _NETS:
            raise ValueError(f"net '{name}' is already registered")
        family = name.split(".", 1)[0]
        summary = (inspect.getdoc(builder) or "").split("\n", 1)[0]
        _NETS[name] = NetEntry(name, family, builder, data_args, summary)
        return builder

    return wrap


def get_net_entry(name: str) -> NetEntry:
    if name not in _NETS:
        import difflib

        close = difflib.get_close_matches(name, list(_NETS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise KeyError(f"unknown net '{name}'.{hint} Known nets: {', '.join(sorted(_NETS))}.")
    return _NETS[name]


def create_net(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered net `name` with data arguments and options. The call is kept
    on the net (`net_config`), so a run can store it as net.json and plain PyTorch code
    can rebuild the net: `create_net(**json.load(open("net.json")))`."""
    net = get_net_entry(name).builder(**kwargs)
    net.glassnet_net_config = {"name": name, **_plain(kwargs)}
    return net


def net_config(net: nn.Module) -> dict[str, Any] | None:
    """The `create_net` call that built `net` (None for a net built otherwise)."""
    return getattr(net, "glassnet_net_config", None)


def _plain(value: Any) -> Any:
    """Tuples to lists, numpy scalars to numbers: JSON as written, equal when read back."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def list_nets(family: str | None = None) -> list[NetEntry]:
    """Registered nets, sorted by name, optionally of one family."""
    return [e for n, e in sorted(_NETS.items()) if family is None or e.family == family]
