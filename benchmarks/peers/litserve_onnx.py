"""Peer: LitServe serving the same glassnet ONNX export (one worker, as its docs start).

python benchmarks/peers/litserve_onnx.py EXPORT_FOLDER PORT
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import litserve as ls

sys.path.insert(0, str(Path(__file__).parent))
from snippet import answer, load_export  # noqa: E402


class TableAPI(ls.LitAPI):
    def setup(self, device: Any) -> None:
        self.session, self.prep, self.encode = load_export(Path(sys.argv[1]))

    def decode_request(self, request: dict) -> Any:  # a plain dict: LitServe parses JSON
        return request["rows"]

    def predict(self, rows: Any) -> Any:
        return answer(self.session, self.prep, self.encode, rows)

    def encode_response(self, output: Any) -> Any:
        return {"predictions": output}


if __name__ == "__main__":
    server = ls.LitServer(TableAPI(), accelerator="cpu", devices=1, workers_per_device=1)
    server.run(port=int(sys.argv[2]), log_level="warning", generate_client_file=False)
