"""Peer: BentoML (1.4 service API, one worker, as its quickstart starts) serving the same
glassnet ONNX export.

python benchmarks/peers/bentoml_onnx.py EXPORT_FOLDER PORT

Run as a script it starts `bentoml serve` on this module (BentoML's own server process);
the export folder travels in an environment variable, as `bentoml serve` takes no
arguments for the service. Answers POST /predict with {"rows": [...]}; health: /readyz.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import bentoml

sys.path.insert(0, str(Path(__file__).parent))
from snippet import answer, load_export  # noqa: E402

EXPORT = "GLASSNET_BENCH_EXPORT"


@bentoml.service(workers=1)
class Table:
    def __init__(self) -> None:
        self.session, self.prep, self.encode = load_export(Path(os.environ[EXPORT]))

    @bentoml.api
    def predict(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"predictions": answer(self.session, self.prep, self.encode, rows)}


if __name__ == "__main__":
    here = Path(__file__).parent
    os.environ[EXPORT] = str(Path(sys.argv[1]).resolve())
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")  # no usage reports
    os.execv(
        sys.executable,
        [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            "bentoml_onnx:Table",
            "--port",
            sys.argv[2],
            "--host",
            "127.0.0.1",
            "--working-dir",
            str(here),
        ],
    )
