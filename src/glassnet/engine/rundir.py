"""A run on disk (ARCHITECTURE section 6): where each file lives, and never overwriting."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from glassnet._version import __version__
from glassnet.config import RunSpec, dump_yaml, validate_spec
from glassnet.data.files import atomic_write_json, atomic_write_text
from glassnet.errors import RunError


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def spec_file(self) -> Path:
        return self.path / "run.yaml"

    @property
    def weights(self) -> Path:
        return self.path / "model.safetensors"

    @property
    def preprocess(self) -> Path:
        return self.path / "preprocess.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoint"

    @property
    def metrics_csv(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def metrics_json(self) -> Path:
        return self.path / "metrics.json"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def report(self) -> Path:
        return self.path / "report"

    # ---- creating ------------------------------------------------------------------------
    @classmethod
    def create(cls, out: str | Path | None, task: str, root: str | Path = "runs") -> RunDir:
        """A fresh directory: `out`, or the next free `runs/<task>-<n>`. An existing
        non-empty `out` is refused so no run is ever overwritten."""
        if out is None:
            base = Path(root)
            n = 1
            while (base / f"{task}-{n}").exists():
                n += 1
            path = base / f"{task}-{n}"
        else:
            path = Path(out)
            if path.exists() and any(path.iterdir()):
                raise RunError(
                    f"'{path}' already exists and is not empty",
                    fix="Choose another --out, or resume it with --resume",
                )
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    def write_spec(
        self, spec: RunSpec, device: torch.device, world_size: int, notes: Sequence[str] = ()
    ) -> None:
        """run.yaml: the resolved spec, versions, device, and what glassnet inferred (notes)."""
        doc = spec.to_dict()
        doc["versions"] = {
            "glassnet": __version__,
            "torch": str(torch.__version__),
            "python": platform.python_version(),
        }
        doc["device"] = {"type": device.type, "processes": world_size}
        if notes:
            doc["notes"] = list(notes)
        atomic_write_text(self.spec_file, dump_yaml(doc))

    def write_preprocess(self, state: dict[str, Any]) -> None:
        atomic_write_json(self.preprocess, state)

    def write_net_config(self, config: dict[str, Any] | None) -> None:
        """net.json: the `create_net` call that rebuilds the net in plain PyTorch code (not
        written for a net assembled otherwise, e.g. a face embedder around its backbone)."""
        if config is None:
            return
        try:
            atomic_write_json(self.path / "net.json", config)
        except TypeError:  # an option JSON cannot hold: the run still works without it
            return

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        p = Path(path)
        if not p.is_dir():
            raise RunError(
                f"run directory '{p}' does not exist",
                fix="Pass the folder `glassnet train` printed (e.g. runs/tabular-1)",
            )
        if not (p / "run.yaml").is_file():
            raise RunError(
                f"'{p}' is not a glassnet run (it has no run.yaml)",
                fix="Pass the folder `glassnet train` printed (e.g. runs/tabular-1)",
            )
        return cls(p)

    def read_spec(self) -> RunSpec:
        try:
            doc = yaml.safe_load(self.spec_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise RunError(f"run.yaml is not valid YAML: {e}", where=str(self.path)) from None
        doc = {k: v for k, v in doc.items() if k not in ("versions", "device", "notes")}
        return validate_spec(doc, source=str(self.spec_file))

    def read_preprocess(self) -> dict[str, Any]:
        if not self.preprocess.is_file():
            raise RunError(
                f"'{self.path}' has no preprocess.json: the run did not finish loading its data",
                fix="Train it again",
            )
        try:
            state = json.loads(self.preprocess.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunError(
                f"'{self.preprocess}' is damaged: not valid JSON ({e})",
                fix="Train the run again (preprocess.json is written when its data loads)",
            ) from None
        if not isinstance(state, dict) or not state:
            raise RunError(
                f"'{self.preprocess}' is damaged: it holds no fitted preprocessing",
                fix="Train the run again",
            )
        return state
