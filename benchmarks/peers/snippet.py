"""What a careful engineer serving a glassnet export by hand starts from: the export's own
`predict.py` (the README's plain-Python snippet). Its `encode(row)` is taken as written,
so the peers and glassnet encode identically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def load_export(folder: Path) -> tuple[Any, dict[str, Any], Any]:
    """(onnxruntime session, preprocess.json, encode(row) from predict.py)."""
    import onnxruntime as ort

    prep = json.loads((folder / "preprocess.json").read_text(encoding="utf-8"))
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    text = (folder / "predict.py").read_text(encoding="utf-8")
    start = text.index("def encode(row):")
    end = text.index("\n\n\n", start)
    space: dict[str, Any] = {"prep": prep, "np": np}
    exec(text[start:end], space)  # noqa: S102 - our own generated snippet
    return session, prep, space["encode"]


def answer(session: Any, prep: dict[str, Any], encode: Any, rows: list[dict]) -> list[dict]:
    x = np.array([encode(r) for r in rows], dtype=np.float32)
    out = session.run(None, {"x": x})[0]
    e = np.exp(out - out.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    labels = prep["labels"]
    return [
        {
            "label": labels[int(p.argmax())],
            "probabilities": dict(zip(labels, p.tolist(), strict=True)),
        }
        for p in probs
    ]
