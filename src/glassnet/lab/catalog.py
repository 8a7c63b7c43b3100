"""The runs folder as the lab shows it: one summary per run, and one run in full (its
resolved config, its curves per epoch, its final metrics and the pictures it has).

Runs are named by their folder name only; a request never carries a path, and every file
the lab hands out is one this module listed from inside the run's folder.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from glassnet.errors import RunError, did_you_mean

RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PICTURE_FOLDERS = ("report", "explain")  # evaluate --report and explain write PNGs here
# The metric a reader looks at first, by name, whatever the task: the first one a run's
# test (else validation) metrics hold; the monitored value otherwise.
KEY_METRICS = (
    "accuracy",
    "verification_accuracy",
    "map50",
    "bleu",
    "wer",
    "mase",
    "r2",
    "rmse",
    "auc",
)


class UnknownName(RunError):
    """A run, picture, upload or training this lab does not have (answered 404)."""


@dataclass(frozen=True)
class Catalog:
    root: Path

    def folder(self, name: str) -> Path:
        """The folder of run `name`, refused unless it is a plain name of a run here."""
        path = self.root / name
        if not RUN_NAME.match(name) or not (path / "run.yaml").is_file():
            known = [p.name for p in self._folders()]
            raise UnknownName(
                f"there is no run '{name}' here.{did_you_mean(name, known)}",
                fix="Pick one from the Runs page (GET /lab/api/runs lists them)",
            )
        return path

    def _folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if (p / "run.yaml").is_file())

    def summaries(self) -> list[dict[str, Any]]:
        return [summary(p) for p in self._folders()]

    def detail(self, name: str) -> dict[str, Any]:
        path = self.folder(name)
        return {
            **summary(path),
            "config": _read_yaml(path / "run.yaml"),
            "metrics": _read_json(path / "metrics.json"),
            "curves": curves(path / "metrics.csv"),
            "pictures": pictures(path),
        }

    def picture(self, name: str, picture: str) -> Path:
        """A PNG of run `name`, by the name `pictures` listed it under."""
        path = self.folder(name)
        for listed in pictures(path):
            if listed["name"] == picture:
                return path / listed["name"]
        raise UnknownName(
            f"run '{name}' has no picture '{picture}'",
            fix="Use a name from the run's 'pictures' list",
        )


def summary(path: Path) -> dict[str, Any]:
    """What the Runs table shows: task, net, data, key metric, date, duration, status."""
    spec = _read_yaml(path / "run.yaml")
    metrics = _read_json(path / "metrics.json")
    key, value = key_metric(metrics)
    net = spec.get("net") or {}
    return {
        "name": path.name,
        "task": spec.get("task"),
        "net": net.get("name") if isinstance(net, dict) else net,
        "data": (spec.get("data") or {}).get("data"),
        "key_metric": key,
        "key_value": value,
        "date": (path / "run.yaml").stat().st_mtime,
        "seconds": metrics.get("train_seconds"),
        "epochs": metrics.get("epochs_run"),
        "status": _status(path, metrics),
    }


def _status(path: Path, metrics: dict[str, Any]) -> str:
    if metrics:
        return "stopped" if metrics.get("stopped") == "interrupted" else "finished"
    if (path / "checkpoint" / "LATEST").is_file():
        return "resumable"
    return "unfinished"


def key_metric(metrics: dict[str, Any]) -> tuple[str | None, float | None]:
    for split in ("test", "val"):
        scores = metrics.get(split) or {}
        for name in KEY_METRICS:
            value = scores.get(name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                return f"{split} {name}", float(value)
    if isinstance(metrics.get("best_value"), (int, float)):
        return str(metrics.get("monitor")), float(metrics["best_value"])
    return None, None


def curves(path: Path) -> dict[str, list[float | None]]:
    """metrics.csv as columns: {"epoch": [1, 2, ...], "train_loss": [...], ...}."""
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float | None]] = {}
    for i, row in enumerate(rows):
        for k, v in row.items():
            columns.setdefault(k, [None] * i).append(_number(v))
        for k in columns.keys() - row.keys():
            columns[k].append(None)
    return columns


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def pictures(path: Path) -> list[dict[str, str]]:
    out = []
    for folder in PICTURE_FOLDERS:
        for p in sorted((path / folder).glob("*.png")):
            title = p.stem.replace("-", " ").replace("_", " ")
            out.append({"name": f"{folder}/{p.name}", "title": title})
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
