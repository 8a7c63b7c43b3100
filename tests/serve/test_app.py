"""The service in-process (FastAPI's TestClient): every route, every task, and the clear
4xx answers for bad requests."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import glassnet
from glassnet.serve import create_app, load_models
from glassnet.tasks.messages import RowsRequest
from glassnet.tasks.sources import resolve

pytestmark = pytest.mark.xdist_group("serve")  # its trained runs are built once


def _client(served_runs: dict[str, Path], **options: object) -> TestClient:
    runs = load_models([f"{n}={p}" for n, p in served_runs.items()], device="cpu")
    return TestClient(create_app(runs, **options))


@pytest.fixture(scope="module")
def client(served_runs: dict[str, Path]) -> TestClient:
    with _client(served_runs) as c:
        yield c


@pytest.fixture(scope="module")
def iris_rows() -> list[dict]:
    path, _ = resolve("builtin:iris")
    return pd.read_csv(path).drop(columns="species").head(5).to_dict("records")


def test_health_models_and_docs(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "models": 5}
    models = {m["name"]: m for m in client.get("/v1/models").json()}
    assert client.get("/v1/models/words").json()["name"] == "words"
    assert set(models) == {"table", "faces", "spots", "review", "words"}
    assert models["words"]["request"] == "TextsRequest" and models["review"]["labels"]
    assert models["table"]["labels"] == ["0", "1", "2"]  # iris species, as coded
    assert [c["name"] for c in models["table"]["inputs"]["columns"]][:2] == [
        "sepal length (cm)",
        "sepal width (cm)",
    ]
    assert models["spots"]["inputs"]["horizon"] == 5 and models["spots"]["labels"] is None
    assert models["faces"]["request"] == "ImagesRequest"
    doc = client.get("/openapi.json").json()
    assert "/v1/models/table/predict" in doc["paths"]
    body = doc["paths"]["/v1/models/faces/predict"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body
    assert client.get("/docs").status_code == 200


def test_tabular_predictions_equal_the_python_api(
    client: TestClient, served_runs: dict[str, Path], iris_rows: list[dict]
) -> None:
    answer = client.post("/v1/models/table/predict", json={"rows": iris_rows})
    assert answer.status_code == 200
    expected = glassnet.load(served_runs["table"]).predict_request(RowsRequest(rows=iris_rows))
    got, want = answer.json(), json.loads(expected.model_dump_json())
    assert [p["label"] for p in got["predictions"]] == [p["label"] for p in want["predictions"]]
    for g, w in zip(got["predictions"], want["predictions"], strict=True):
        assert g["probabilities"] == pytest.approx(w["probabilities"], abs=1e-6)
    assert [p["label"] for p in answer.json()["predictions"]] == ["0"] * 5


def test_image_uploads(client: TestClient, some_images: list[Path]) -> None:
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in some_images[:3]]
    answer = client.post("/v1/models/faces/predict", files=files)
    assert answer.status_code == 200, answer.text
    preds = answer.json()["predictions"]
    assert [p["source"] for p in preds] == [p.name for p in some_images[:3]]
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-4 for p in preds)


def test_forecast_from_a_json_history(client: TestClient, sunspots_history: list[dict]) -> None:
    answer = client.post("/v1/models/spots/predict", json={"history": sunspots_history})
    assert answer.status_code == 200, answer.text
    preds = answer.json()["predictions"]
    last = sunspots_history[-1]["year"]
    assert [p["year"] for p in preds] == [last + h for h in range(1, 6)]
    assert all(p["q0.1"] <= p["q0.5"] <= p["q0.9"] for p in preds)


def test_explain_returns_views_with_png_data_urls(
    client: TestClient, some_images: list[Path], iris_rows: list[dict]
) -> None:
    files = [("files", (some_images[0].name, some_images[0].read_bytes(), "image/png"))]
    for answer in (
        client.post("/v1/models/faces/explain", files=files),
        client.post("/v1/models/table/explain", json={"rows": iris_rows[:1]}),
    ):
        assert answer.status_code == 200, answer.text
        views = answer.json()["views"]
        assert len(views) >= 3
        for v in views:
            head, data = v["png"].split(",", 1)
            assert head == "data:image/png;base64"
            Image.open(io.BytesIO(base64.b64decode(data))).verify()
            assert v["how_to_read"]


def test_text_models_take_texts(client: TestClient) -> None:
    answer = client.post("/v1/models/review/predict", json={"texts": ["the case is great"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["source"] == "the case is great"
    answer = client.post("/v1/models/words/predict", json={"texts": ["red cat", "old zebra"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "words"  # the served name, not the run folder's
    assert [set(p) >= {"translation", "logprob"} for p in body["predictions"]] == [True, True]
    assert any("'zebra'" in n for n in body["notes"])
    views = client.post("/v1/models/words/explain", json={"texts": ["big owl"]}).json()["views"]
    assert any(v["name"].startswith("seq2seq-attention") for v in views)


def test_the_fast_lane_answers_json_predictions_and_hands_on_the_rest(
    served_runs: dict[str, Path], iris_rows: list[dict]
) -> None:
    """JSON predictions skip FastAPI's machinery (`serve/lanes.FastLane`) and answer what
    the FastAPI route answers; what the lane's handler refuses gets FastAPI's usual
    error body; a token is still needed (the guards stand outside the lane)."""
    from glassnet.serve.lanes import FastLane

    app = create_app(load_models([f"table={served_runs['table']}"], device="cpu"), token="s3")
    lane = app
    while not isinstance(lane, FastLane):
        lane = lane.app
    auth = {"Authorization": "Bearer s3"}
    with TestClient(app) as c:
        fast = c.post("/v1/models/table/predict", json={"rows": iris_rows}, headers=auth)
        assert fast.status_code == 200 and lane.answered == 1
        routes = dict(lane.routes)
        lane.routes.clear()  # the same request through FastAPI's route
        slow = c.post("/v1/models/table/predict", json={"rows": iris_rows}, headers=auth)
        lane.routes.update(routes)
        assert slow.status_code == 200 and lane.answered == 1
        got, want = fast.json(), slow.json()  # one pass each: equal up to float rounding
        assert got.keys() == want.keys() and got["notes"] == want["notes"]
        for g, w in zip(got["predictions"], want["predictions"], strict=True):
            assert g["label"] == w["label"]
            assert g["probabilities"] == pytest.approx(w["probabilities"], abs=1e-6)
        bad = c.post("/v1/models/table/predict", json={"rows": [{"petal": 1}]}, headers=auth)
        assert "lacks the column(s)" in _error(bad, 422) and lane.answered == 1
        assert "bearer token" in _error(
            c.post("/v1/models/table/predict", json={"rows": iris_rows}), 401
        )
        assert lane.answered == 1


def test_decode_options_are_query_parameters(
    client: TestClient, served_runs: dict[str, Path], iris_rows: list[dict]
) -> None:
    """`?beam=3` on a translator equals `Run.predict(..., beam=3)`; a model without that
    option refuses it, as does an out-of-range value; the OpenAPI document lists it."""
    texts = ["red cat", "old owl"]
    answer = client.post("/v1/models/words/predict?beam=3", json={"texts": texts})
    assert answer.status_code == 200, answer.text
    local = glassnet.load(served_runs["words"]).predict(texts, beam=3)
    assert [p["translation"] for p in answer.json()["predictions"]] == list(local["translation"])
    assert _error(client.post("/v1/models/words/predict?beam=0", json={"texts": texts}), 422)
    refused = client.post("/v1/models/table/predict?beam=3", json={"rows": iris_rows})
    assert "beam" in _error(refused, 422)
    params = client.get("/openapi.json").json()["paths"]["/v1/models/words/predict"]["post"]
    assert [p["name"] for p in params["parameters"]] == ["beam"]


def _error(answer, status: int) -> str:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) >= {"error", "message"} and "Traceback" not in answer.text
    return body["message"]


def test_bad_requests_get_clear_4xx(
    client: TestClient, iris_rows: list[dict], some_images: list[Path]
) -> None:
    msg = _error(client.post("/v1/models/tabel/predict", json={"rows": iris_rows}), 404)
    assert "no model 'tabel'" in msg and "Did you mean 'table'" in msg
    msg = _error(
        client.post(
            "/v1/models/table/predict",
            content=b'{"rows": [',
            headers={"content-type": "application/json"},
        ),
        422,
    )
    assert "not valid JSON" in msg
    msg = _error(client.post("/v1/models/table/predict", data={"rows": "1"}), 415)
    assert "application/json" in msg
    msg = _error(client.post("/v1/models/faces/predict", json={"files": []}), 415)
    assert "multipart" in msg
    msg = _error(client.post("/v1/models/table/predict", json={"rows": []}), 422)
    assert "rows" in msg
    msg = _error(client.post("/v1/models/table/predict", json={"rowz": iris_rows}), 422)
    assert "rowz" in msg
    msg = _error(client.post("/v1/models/table/predict", json={"rows": [{"petal": 1}]}), 422)
    assert "lacks the column(s) 'sepal length (cm)'" in msg
    bad_value = [{**iris_rows[0], "sepal width (cm)": "wide"}]
    msg = _error(client.post("/v1/models/table/predict", json={"rows": bad_value}), 422)
    assert "should be numeric" in msg and "'wide'" in msg
    files = [("files", ("notes.png", b"not an image at all", "image/png"))]
    msg = _error(client.post("/v1/models/faces/predict", files=files), 422)
    assert "upload 'notes.png' is not an image" in msg
    msg = _error(client.post("/v1/models/spots/predict", json={"history": [{"x": 1}]}), 422)
    assert "year" in msg or "sunspots" in msg
    _error(client.get("/v1/models/table/predict"), 405)


def test_a_path_in_a_request_is_only_data(client: TestClient, iris_rows: list[dict]) -> None:
    row = {**iris_rows[0], "sepal length (cm)": "/etc/passwd"}
    msg = _error(client.post("/v1/models/table/predict", json={"rows": [row]}), 422)
    assert "/etc/passwd" in msg and "numeric" in msg
    files = [("files", ("../../etc/passwd", b"GIF89a", "image/gif"))]
    msg = _error(client.post("/v1/models/faces/predict", files=files), 422)
    assert "upload 'passwd'" in msg  # the name is a label, never a path


def test_oversized_bodies_are_refused_before_parsing(served_runs: dict[str, Path]) -> None:
    with _client(served_runs, max_body_mb=0.01) as small:
        big = {"rows": [{"x": "y" * 100}] * 200}
        msg = _error(small.post("/v1/models/table/predict", json=big), 413)
        assert "limit of 0.01 MB" in msg

        def chunks():  # no Content-Length: counted while reading
            for _ in range(20):
                yield b" " * 1000

        answer = small.post(
            "/v1/models/table/predict",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        _error(answer, 413)


def test_decompression_bombs_are_refused(client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("L", (12_000, 12_000)).save(buffer, format="PNG")  # 144 Mpx, a few KB
    files = [("files", ("bomb.png", buffer.getvalue(), "image/png"))]
    msg = _error(client.post("/v1/models/faces/predict", files=files), 422)
    assert "decompression bomb" in msg


def test_bearer_token(served_runs: dict[str, Path], iris_rows: list[dict]) -> None:
    with _client(served_runs, token="s3cret") as locked:
        assert locked.get("/health").status_code == 200
        answer = locked.post("/v1/models/table/predict", json={"rows": iris_rows})
        assert "Authorization: Bearer" in _error(answer, 401)
        assert answer.headers["www-authenticate"] == "Bearer"
        wrong = {"Authorization": "Bearer nope"}
        _error(locked.get("/v1/models", headers=wrong), 401)
        right = {"Authorization": "Bearer s3cret"}
        ok = locked.post("/v1/models/table/predict", json={"rows": iris_rows}, headers=right)
        assert ok.status_code == 200
        # the token is checked before the body is read: bad JSON or a huge declared body
        # from a stranger gets 401, not 422 / 413
        garbage = locked.post(
            "/v1/models/table/predict",
            content=b'{"rows": [',
            headers={"Content-Type": "application/json"},
        )
        _error(garbage, 401)
        huge = locked.post(
            "/v1/models/table/predict",
            content=b"{}",
            headers={"Content-Type": "application/json", "Content-Length": str(10**9)},
        )
        _error(huge, 401)
        for page in ("/docs", "/redoc", "/openapi.json"):  # the API document is private too
            _error(locked.get(page), 401)
            assert locked.get(page, headers=right).status_code == 200


def test_bad_model_names_are_refused(served_runs: dict[str, Path]) -> None:
    runs = load_models([str(served_runs["table"])], device="cpu")
    with pytest.raises(glassnet.errors.GlassnetError, match="cannot be a model name"):
        create_app({"a b/c": runs["table"]})
    with pytest.raises(glassnet.errors.ConfigError, match="two models would be called"):
        load_models([str(served_runs["table"]), f"table={served_runs['faces']}"])


def test_the_api_document_shows_real_examples_and_errors(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    table = doc["paths"]["/v1/models/table/predict"]["post"]
    assert {"401", "413", "415", "422"} <= set(table["responses"])
    example = table["requestBody"]["content"]["application/json"]["examples"]["this model"]
    row = example["value"]["rows"][0]
    assert "sepal width (cm)" in row and isinstance(row["sepal width (cm)"], float)
    answer = client.post("/v1/models/table/predict", json=example["value"])
    assert answer.status_code == 200, answer.text  # the example really works
    faces = doc["paths"]["/v1/models/faces/predict"]["post"]
    assert "multipart/form-data" in faces["requestBody"]["content"]


def test_ndjson_stream_in_chunks_equals_json(
    client: TestClient, iris_rows: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    import glassnet.serve.app as app_module

    monkeypatch.setattr(app_module, "STREAM_CHUNK", 2)  # 5 rows: three chunks
    body = "".join(json.dumps(r) + "\n" for r in iris_rows)
    streamed = client.post(
        "/v1/models/table/predict/stream",
        content=body,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in streamed.text.splitlines()]
    plain = client.post("/v1/models/table/predict", json={"rows": iris_rows}).json()
    # the same answers; probabilities to float32's last bits (chunks of 2 rows, not 5)
    assert [x["label"] for x in lines] == [x["label"] for x in plain["predictions"]]
    for got, want in zip(lines, plain["predictions"], strict=True):
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-6)
    bad = body + "{not json\n"
    broken = client.post(
        "/v1/models/table/predict/stream",
        content=bad,
        headers={"Content-Type": "application/x-ndjson"},
    ).text.splitlines()
    assert len(broken) == 6 and "line 6" in json.loads(broken[-1])["message"]
    refused = client.post("/v1/models/table/predict/stream", json={"rows": iris_rows})
    assert refused.status_code == 415 and "NDJSON" in refused.json()["message"]
    texts = client.post(
        "/v1/models/review/predict/stream",
        content='"the case is great"\n"the price is awful"\n',
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert len(texts.text.splitlines()) == 2
