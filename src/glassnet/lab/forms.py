"""The Train page's forms, built from the same option list as `glassnet train TASK --help`
(`config.option_fields`), and the form's answers turned back into the options that
`glassnet.session` validates, so the page refuses what the CLI refuses, in the same words.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from glassnet.config import family_nets, option_fields, task_entries
from glassnet.data.builtin import list_datasets
from glassnet.errors import ConfigError, did_you_mean

# The data itself is chosen on the page (a built-in set or an upload), never typed as a
# path: requests name no files on the server.
PATH_OPTIONS = {"data", "val", "test"}


def _plain_type(tp: Any) -> tuple[Any, bool]:
    """(the type without Optional and constraints, whether None is allowed)."""
    optional = False
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            optional = optional or len(args) < len(get_args(tp))
            if len(args) != 1:
                return tp, optional
            tp = args[0]
        else:
            return tp, optional


def _kind(tp: Any) -> dict[str, Any]:
    tp, optional = _plain_type(tp)
    origin = get_origin(tp)
    if tp is bool:
        out: dict[str, Any] = {"kind": "bool"}
    elif origin is Literal:
        out = {"kind": "choice", "choices": [str(a) for a in get_args(tp)]}
    elif origin in (list, tuple):
        item, _ = _plain_type(next((a for a in get_args(tp) if a is not Ellipsis), str))
        out = {"kind": "list", "item": getattr(item, "__name__", "str")}
    elif tp in (int, float):
        out = {"kind": tp.__name__}
    else:
        out = {"kind": "text"}
    out["optional"] = optional
    return out


def _shown(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return value


def task_forms() -> list[dict[str, Any]]:
    """Every task with its built-in data sets, its nets and its options in groups."""
    out = []
    for entry in task_entries():
        fields = [
            {
                "group": f.group,
                "name": f.name,
                "default": _shown(f.default),
                "help": f.help,
                **_kind(f.annotation),
            }
            for f in option_fields(entry.name)
            if f.name not in PATH_OPTIONS
        ]
        out.append(
            {
                "task": entry.name,
                "default_net": entry.default_net,
                "nets": [n.name for n in family_nets(entry.name)],
                "builtins": [
                    {"name": d.name, "about": d.description} for d in list_datasets(entry.name)
                ],
                "fields": fields,
            }
        )
    return out


def options_from_form(task: str, given: dict[str, Any]) -> dict[str, Any]:
    """The form's answers as `glassnet.session` options: empty fields keep their default,
    comma lists are split; everything else is validated by the spec itself."""
    fields = {f.name: f for f in option_fields(task)}
    out: dict[str, Any] = {}
    for name, value in given.items():
        if name == "net":
            out[name] = value
            continue
        if name in PATH_OPTIONS or name not in fields:
            raise ConfigError(
                f"unknown option '{name}' for task '{task}'."
                + ("" if name in PATH_OPTIONS else did_you_mean(name, fields)),
                fix="Choose the data with the built-in list or an upload; "
                f"see `glassnet train {task} --help` for the options",
            )
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if _kind(fields[name].annotation)["kind"] == "list" and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        out[name] = value
    return out
