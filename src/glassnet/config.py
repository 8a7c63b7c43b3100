"""Run configuration as data: pydantic specs, validated before any data loads.

A `RunSpec` has four sections — `data` (the task's own DataSpec subclass), `net` (a
registered net name and its options), `train` (TrainSpec) — plus the task name and the seed.
The same field names are the Python keyword arguments and the CLI flags
(`batch_size` <-> `--batch-size`); `route_options` sends a flat set of options to their
sections, so `glassnet.train("tabular", epochs=5, hidden=(64,))` and
`glassnet train tabular --epochs 5 --hidden 64` build the same spec.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
    create_model,
    model_validator,
)

from glassnet.errors import ConfigError, did_you_mean
from glassnet.nets import get_net_entry, list_nets
from glassnet.task_index import task_modules


class Spec(BaseModel):
    """Base of every spec section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSpec(Spec):
    """Where the data is and how to split it. Tasks subclass this with their own options."""

    data: str | None = Field(
        None, description="the data: a file, a folder, or builtin:NAME (see `glassnet data list`)"
    )
    val: str | None = Field(None, description="a separate validation file (default: split off)")
    test: str | None = Field(None, description="a separate test file (default: split off)")
    val_fraction: float = Field(0.15, ge=0.0, lt=0.5, description="share held out for validation")
    test_fraction: float = Field(0.15, ge=0.0, lt=0.5, description="share held out for testing")


class TableDataSpec(DataSpec):
    """The data options of tasks that read tables (CSV, TSV, TXT, Parquet)."""

    sep: str | None = Field(
        None, description="column separator of text tables (default: by extension, ',' for .csv)"
    )


class TrainSpec(Spec):
    """How to train: optimiser, schedule, stopping, checkpoints, hardware."""

    epochs: int = Field(30, ge=1, description="passes over the training data")
    batch_size: int = Field(64, ge=1, description="samples per optimisation step (global)")
    lr: float = Field(3e-3, gt=0, description="peak learning rate")
    weight_decay: float = Field(
        1e-4, ge=0, description="decoupled weight decay (AdamW) or L2 (SGD)"
    )
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="optimisation algorithm")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    schedule: Literal["cosine", "onecycle", "constant"] = Field(
        "cosine", description="learning-rate schedule after warm-up"
    )
    warmup: float = Field(0.05, ge=0, lt=1, description="share of all steps spent warming up")
    clip_grad: float = Field(1.0, ge=0, description="clip the gradient norm to this (0 = off)")
    monitor: str = Field(
        "val_loss", description="validation metric for best weights and early stop"
    )
    patience: int = Field(
        10, ge=0, description="stop after this many epochs without gain (0 = off)"
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="where to train (auto: cuda > mps > cpu)"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="auto: bf16 autocast on capable GPUs, and for training image CNNs on CPUs "
        "with native bf16 (AVX512-BF16, AMX), their validation included; fp32 otherwise",
    )
    compile: bool = Field(False, description="run the net through torch.compile")
    deterministic: bool = Field(False, description="deterministic algorithms (bitwise resume)")
    devices: int = Field(
        1, ge=1, description="data-parallel processes per machine (DDP via torchrun)"
    )
    nodes: int = Field(1, ge=1, description="machines taking part (each runs the same command)")
    master: str | None = Field(
        None,
        description="ADDR:PORT where the machines meet (rendezvous); needed with --nodes > 1",
    )
    stream: Literal["auto", "on", "off"] = Field(
        "auto",
        description="read training data in loader processes while training (on), hold it in "
        "memory (off), or choose by size (auto)",
    )
    workers: int | None = Field(
        None,
        ge=0,
        description="loader processes for streamed data (default: cores - 1, <= 4; none when "
        "training on a CPU of 2 cores or fewer, where decoding between steps is faster)",
    )
    checkpoint_every: int = Field(
        0, ge=0, description="also checkpoint every N steps inside an epoch (0 = per epoch)"
    )

    @model_validator(mode="after")
    def _rendezvous(self) -> TrainSpec:
        if self.nodes > 1 and not self.master:
            raise ValueError(
                f"--nodes {self.nodes} needs --master ADDR:PORT, the address every machine "
                "can reach (e.g. the first node's, port 29500)"
            )
        if self.master is not None:
            host, sep, port = self.master.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(
                    f"--master must be ADDR:PORT (e.g. 10.0.0.1:29500), got {self.master!r}"
                )
        return self


class NetSpec(Spec):
    """A registered net and its resolved options (checked against the builder's signature)."""

    name: str = Field(description="registered net, see `glassnet list nets`")
    options: dict[str, Any] = Field(default_factory=dict)


def net_options_model(name: str) -> type[BaseModel]:
    """A pydantic model of the user options of the registered net `name`."""
    entry = get_net_entry(name)
    fields = {k: (t, Field(d, description=doc)) for k, (t, d, doc) in entry.options().items()}
    return create_model(f"{name}.options", __config__=ConfigDict(extra="forbid"), **fields)


@dataclass(frozen=True)
class TaskEntry:
    """A registered task as the specs see it. `cls` is the task class itself (typed loosely:
    tasks sit above config); `tasks.get_task_class` reads this same registry."""

    name: str
    cls: Any
    data_spec: type[DataSpec]
    default_net: str
    train_defaults: dict[str, Any]


_TASKS: dict[str, TaskEntry] = {}
_ALL_LOADED: list[bool] = []  # set once every module of the index is imported


def register_task_entry(entry: TaskEntry) -> None:
    """Called by `tasks.register_task`: the one registry of tasks."""
    if entry.name in _TASKS:
        raise ValueError(f"task '{entry.name}' is already registered")
    _TASKS[entry.name] = entry


def _registered() -> dict[str, TaskEntry]:
    """The registry, with every task module of the index imported on first use (they
    register themselves; loading plugins by name keeps config below tasks)."""
    if not _ALL_LOADED:
        for module in task_modules():
            importlib.import_module(f"glassnet.tasks.{module}")
        _ALL_LOADED.append(True)
    return _TASKS


def task_entry(task: str) -> TaskEntry:
    if task not in _registered():
        raise ConfigError(
            f"unknown task '{task}'.{did_you_mean(task, _TASKS)}",
            fix=f"Known tasks: {', '.join(sorted(_TASKS))}",
        )
    return _TASKS[task]


def task_entries() -> list[TaskEntry]:
    return [e for _, e in sorted(_registered().items())]


def train_defaults(task: str) -> dict[str, Any]:
    """TrainSpec values that suit `task` (e.g. more epochs for small series)."""
    return dict(task_entry(task).train_defaults)


def data_spec_class(task: str) -> type[DataSpec]:
    return task_entry(task).data_spec


def default_net(task: str) -> str:
    return task_entry(task).default_net


@dataclass(frozen=True)
class OptionField:
    """One option of `train TASK`, as every front end shows it (CLI flags, the lab's form):
    its section, flat name, type (with constraints), the default this task really uses,
    and its help."""

    group: str  # "data", "net" or "train"
    name: str
    annotation: Any
    default: Any
    help: str


def option_fields(task: str) -> list[OptionField]:
    """Every option of `train TASK`, grouped data / net / train. Net options are those of
    every net of the task's family (first seen wins), with the default net's defaults;
    training options show the task's own defaults (images train 10 epochs, not 30)."""
    out: list[OptionField] = []
    spec_cls = data_spec_class(task)
    hidden = getattr(spec_cls, "not_used", ())
    for name, f in spec_cls.model_fields.items():
        if name not in hidden:
            default = f.default if f.default_factory is None else f.default_factory()
            out.append(OptionField("data", name, f.annotation, default, f.description or ""))
    seen: set[str] = set()
    for entry in family_nets(task):
        for name, (tp, default, doc) in entry.options().items():
            if name not in seen:
                seen.add(name)
                out.append(OptionField("net", name, tp, default, doc))
    task_defaults = train_defaults(task)
    for name, f in TrainSpec.model_fields.items():
        default = task_defaults.get(name, f.default)
        out.append(OptionField("train", name, f.annotation, default, f.description or ""))
    for name in TOP_LEVEL:
        f = RunSpec.model_fields[name]
        out.append(OptionField("train", name, f.annotation, f.default, f.description or ""))
    return out


def family_nets(task: str) -> list[Any]:
    """The registered nets a task can use (its default net's family), the default first."""
    default = default_net(task)
    return sorted(list_nets(default.split(".")[0]), key=lambda e: e.name != default)


class RunSpec(Spec):
    """Everything needed to rebuild a run. Build it with `build_spec` or `validate_spec`."""

    task: str
    seed: int = Field(0, description="seed for splits, initialisation and shuffling")
    data: SerializeAsAny[DataSpec]
    net: NetSpec
    train: TrainSpec = TrainSpec()
    # the training options the user (flags, config, Python) set: the data may choose the rest
    _given_train: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def given_train(self) -> frozenset[str]:
        return self._given_train

    def __eq__(self, other: object) -> bool:
        # Two specs are equal when they train the same run; who set a value does not count.
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  (mutable, like any unfrozen model)

    def with_train(self, **values: Any) -> RunSpec:
        """A copy with these training values (the set a resumed run reads from run.yaml)."""
        spec = self.model_copy(update={"train": self.train.model_copy(update=values)})
        spec._given_train = self._given_train
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The nested form stored in run.yaml (net options flattened beside the name)."""
        return {
            "task": self.task,
            "seed": self.seed,
            "data": self.data.model_dump(mode="json"),
            "net": {"name": self.net.name, **_plain(self.net.options)},
            "train": self.train.model_dump(mode="json"),
        }


def _plain(value: Any) -> Any:
    """Tuples become lists so YAML and JSON hold only plain types."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


TOP_LEVEL = ("seed",)


def option_names(task: str, net: str | None = None) -> dict[str, str]:
    """Map every flat option name to its section for this task and net."""
    names: dict[str, str] = {k: "top" for k in TOP_LEVEL}
    names.update({k: "data" for k in data_spec_class(task).model_fields})
    names.update({k: "train" for k in TrainSpec.model_fields})
    names["net"] = "net"
    try:
        names.update({k: "net" for k in get_net_entry(net or default_net(task)).options()})
    except KeyError as e:
        raise ConfigError(str(e).strip("'\""), fix="See `glassnet list nets`") from None
    return names


def route_options(
    task: str, options: dict[str, Any], base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Merge flat `options` (Python kwargs / CLI flags) into nested spec sections `base`."""
    out: dict[str, Any] = {"task": task, "data": {}, "net": {}, "train": {}}
    for key, value in (base or {}).items():
        out[key] = dict(value) if isinstance(value, dict) else value
    if isinstance(out.get("net"), str):
        out["net"] = {"name": out["net"]}
    net_name = options.get("net") or out["net"].get("name")
    sections = option_names(task, net_name)
    for key, value in options.items():
        if key not in sections:
            raise ConfigError(
                f"unknown option '{key}' for task '{task}'.{did_you_mean(key, sections)}",
                fix=f"See `glassnet train {task} --help` for every option",
            )
        where = sections[key]
        if where == "top":
            out[key] = value
        elif key == "net":
            out["net"]["name"] = value
        else:
            out[where][key] = value
    return out


def build_spec(
    task: str,
    options: dict[str, Any] | None = None,
    config: str | Path | dict[str, Any] | None = None,
) -> RunSpec:
    """Build and validate a RunSpec from an optional YAML config plus flat overrides."""
    base = load_yaml(config) if isinstance(config, (str, Path)) else (config or {})
    if "task" in base and base["task"] != task:
        raise ConfigError(
            f"the config is for task '{base['task']}', not '{task}'",
            where=str(config),
            fix="Use the matching `glassnet train TASK`",
        )
    base = {k: v for k, v in base.items() if k != "task"}
    merged = route_options(task, options or {}, base)
    # The data's own defaults (a built-in set's target column, ...) fill what was not given,
    # before validation: run.yaml is then right by construction.
    cls = task_entry(task).cls
    data = merged.get("data")
    if isinstance(data, dict):
        merged["data"] = {**cls.data_defaults(data), **data}
    spec = validate_spec(merged, source=str(config) if config is not None else "options")
    cls.check_spec(spec.data)  # what training needs (a target column, ...), before data loads
    return _capped(spec)


def _capped(spec: RunSpec) -> RunSpec:
    """GLASSNET_MAX_EPOCHS=N caps every training at N epochs: for smoke runs of documents
    and scripts (the README test), never set by glassnet itself."""
    cap = os.environ.get("GLASSNET_MAX_EPOCHS", "").strip()
    if not cap:
        return spec
    if not cap.isdigit() or int(cap) < 1:
        raise ConfigError(
            f"GLASSNET_MAX_EPOCHS is {cap!r}", fix="Set it to a whole number of epochs, or unset it"
        )
    return spec.with_train(epochs=min(spec.train.epochs, int(cap)))


def validate_spec(values: dict[str, Any], source: str = "config") -> RunSpec:
    """Validate nested sections; every problem is reported at once, with its field path."""
    problems: list[str] = []
    values = dict(values)
    task = str(values.get("task"))
    data_cls = data_spec_class(task)
    for key in values:
        if key not in RunSpec.model_fields:
            problems.append(f"unknown key '{key}'.{did_you_mean(key, RunSpec.model_fields)}")

    def section(name: str, model: type[BaseModel], raw: Any) -> Any:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            problems.append(f"'{name}' must be a mapping, got {raw!r}")
            return None
        try:
            return model(**raw)
        except ValidationError as e:
            problems.extend(_describe(e, name, model))
            return None

    data = section("data", data_cls, values.get("data"))
    raw_train = values.get("train")
    given_train = frozenset(raw_train) if isinstance(raw_train, dict) else frozenset()
    if raw_train is None or isinstance(raw_train, dict):
        raw_train = {**train_defaults(task), **(raw_train or {})}
    train = section("train", TrainSpec, raw_train)
    raw_net = values.get("net") or {}
    if isinstance(raw_net, str):
        raw_net = {"name": raw_net}
    net = None
    if isinstance(raw_net, dict):
        raw_net = dict(raw_net)
        name = str(raw_net.pop("name", None) or default_net(task))
        try:
            options = section("net", net_options_model(name), raw_net)
            if options is not None:
                net = NetSpec(name=name, options=options.model_dump())
        except KeyError as e:
            problems.append(f"'net.name': {str(e).strip(chr(34) + chr(39))}")
    else:
        problems.append(f"'net' must be a net name or a mapping, got {raw_net!r}")
    seed = values.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append(f"'seed' got {seed!r}: must be an integer")
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems), where=source)
    spec = RunSpec(task=task, seed=seed, data=data, net=net, train=train)
    spec._given_train = given_train
    return spec


def _describe(error: ValidationError, prefix: str, model: type[BaseModel]) -> list[str]:
    """One line per problem: field, what it got, what it accepts (or 'did you mean')."""
    lines = []
    for err in error.errors():
        field = ".".join([prefix, *(str(p) for p in err["loc"])])
        key = str(err["loc"][-1]) if err["loc"] else prefix
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{field}'.{did_you_mean(key, model.model_fields)}")
        elif err["type"] == "value_error":  # a validator's own sentence
            lines.append(f"'{field}': {err['msg'].removeprefix('Value error, ')}")
        elif err["type"] == "missing":
            lines.append(f"'{field}' is required")
        else:
            lines.append(f"'{field}' got {err.get('input')!r}: {err['msg']}")
    return lines


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config; a missing or malformed file is a ConfigError naming it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' does not exist", fix="Check the path")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}, line {mark.line + 1}" if mark else str(p)
        raise ConfigError(
            f"the config is not valid YAML: {getattr(e, 'problem', e)}",
            where=where,
            fix="Fix the YAML syntax (indentation, colons)",
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            "the config must be a mapping of sections (task, data, net, train)", where=str(p)
        )
    return data


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False)
