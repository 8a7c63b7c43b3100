"""CLI flags generated from the spec fields and net signatures, so the two never drift.

A field `batch_size: int` becomes `--batch-size N`; Literal types become choices; bools
become `--flag/--no-flag`; lists and tuples take comma-separated values (`--hidden 128,64`).
Flags default to "not given", so a `--config` file's values stand unless overridden.
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from glassnet.config import family_nets, option_fields

SEQUENCE_TYPES = (list, tuple)
METAVARS = {
    "data": "PATH",
    "val": "PATH",
    "test": "PATH",
    "target": "COLUMN",
    "monitor": "METRIC",
    "features": "COL,COL",
    "drop": "COL,COL",
    "time": "COLUMN",
    "id": "COLUMN",
    "past": "COL,COL",
    "future": "COL,COL",
    "master": "ADDR:PORT",
    "detector": "RUN",
}


def _strip_optional(tp: Any) -> Any:
    """The plain type argparse converts to: no Optional, no range constraints (pydantic
    checks those, with its own message)."""
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _strip_optional(args[0])
    return tp


def _comma_list(item_type: Any) -> Any:
    def parse(text: str) -> list[Any]:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            return [item_type(p) for p in parts]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {item_type.__name__} values, got {text!r}"
            ) from None

    parse.__name__ = f"list of {item_type.__name__}"
    return parse


def add_option(
    parser: argparse._ActionsContainer, name: str, tp: Any, default: Any, doc: str
) -> None:
    flag = "--" + name.replace("_", "-")
    tp = _strip_optional(tp)
    shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
    text = doc if default in (None, [], ()) or "default" in doc else f"{doc} (default: {shown})"
    # argparse formats help with %: a literal one (e.g. "5%") must be doubled
    kw: dict[str, Any] = {
        "dest": name,
        "default": argparse.SUPPRESS,
        "help": text.replace("%", "%%"),
    }
    origin = get_origin(tp)
    if tp is bool:
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
    elif origin is Literal:
        choices = [str(a) for a in get_args(tp)]
        parser.add_argument(flag, choices=choices, **kw)
        if "off" in choices:  # --no-detect, --no-stream, --no-augment: the usual spelling
            off = {**kw, "help": f"the same as {flag} off"}
            parser.add_argument("--no-" + flag[2:], action="store_const", const="off", **off)
    elif origin in SEQUENCE_TYPES:
        item = _strip_optional(next((a for a in get_args(tp) if a is not Ellipsis), str))
        parser.add_argument(flag, type=_comma_list(item), metavar=METAVARS.get(name, "A,B"), **kw)
    elif tp in (int, float, str):
        parser.add_argument(flag, type=tp, metavar=METAVARS.get(name, tp.__name__.upper()), **kw)
    else:
        parser.add_argument(flag, metavar="VALUE", **kw)


def add_spec_options(parser: argparse.ArgumentParser, task: str, default_net: str) -> None:
    """Every option of `glassnet train TASK` (`config.option_fields`), in groups: data,
    net, training. Net options show the defaults of the task's default net."""
    family = default_net.split(".")[0]
    groups = {
        "data": parser.add_argument_group("data"),
        "net": parser.add_argument_group(f"net (family '{family}'; `glassnet list nets`)"),
        "train": parser.add_argument_group(f"training (defaults for {task})"),
    }
    groups["net"].add_argument(
        "--net",
        dest="net",
        default=argparse.SUPPRESS,
        choices=[n.name for n in family_nets(task)],
        help=f"which registered net (default: {default_net})",
    )
    for f in option_fields(task):
        add_option(groups[f.group], f.name, f.annotation, f.default, f.help)


def given_options(ns: argparse.Namespace, exclude: typing.Iterable[str]) -> dict[str, Any]:
    """The flags the user actually typed (defaults were suppressed)."""
    skip = set(exclude)
    return {k: v for k, v in vars(ns).items() if k not in skip}
