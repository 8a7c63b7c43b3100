"""Peer: a hand-written FastAPI + onnxruntime endpoint serving a glassnet ONNX export.

python benchmarks/peers/fastapi_onnx.py EXPORT_FOLDER PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request

sys.path.insert(0, str(Path(__file__).parent))
from snippet import answer, load_export  # noqa: E402

session, prep, encode = load_export(Path(sys.argv[1]))
app = FastAPI()


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/predict")
async def predict(request: Request) -> dict:
    rows = (await request.json())["rows"]
    return {"predictions": answer(session, prep, encode, rows)}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
