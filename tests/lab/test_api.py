"""The lab's JSON API, as the page uses it: runs, pictures, look inside, uploads checked by
the data doctor, trainings queued and streamed, the token and names instead of paths."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from glassnet.lab import create_lab_app

pytestmark = pytest.mark.xdist_group("lab")


@pytest.fixture()
def client(fresh_runs: Path) -> Any:
    with TestClient(create_lab_app(fresh_runs)) as c:
        yield c


def events(client: TestClient, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    with client.stream("GET", f"/lab/api/jobs/{job_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind:
                out.append((kind, json.loads(line[6:])))
    return out


def test_runs_list_with_key_metric_and_detail_with_curves(client: TestClient) -> None:
    runs = {r["name"]: r for r in client.get("/lab/api/runs").json()}
    assert set(runs) == {"iris-slow", "iris-fast", "faces", "spots", "words"}
    assert runs["iris-fast"]["key_metric"] == "test accuracy"
    assert 0.6 < runs["iris-fast"]["key_value"] <= 1.0
    assert runs["faces"]["task"] == "images" and runs["faces"]["net"] == "cnn.small"
    detail = client.get("/lab/api/runs/iris-fast").json()
    assert detail["curves"]["epoch"][:3] == [1, 2, 3]  # people count epochs from 1
    assert len(detail["curves"]["val_loss"]) == detail["metrics"]["epochs_run"]
    assert detail["config"]["train"]["lr"] == 0.02
    assert detail["inputs"]["transport"] == "json" and "rows" in detail["inputs"]["example"]


def test_unknown_names_are_404_with_a_hint_and_pictures_cannot_escape(
    client: TestClient, fresh_runs: Path
) -> None:
    r = client.get("/lab/api/runs/iris-fsat")
    assert r.status_code == 404 and "Did you mean 'iris-fast'" in r.json()["message"]
    (fresh_runs / "faces" / "report").mkdir()
    (fresh_runs / "faces" / "report" / "confusion.png").write_bytes(b"\x89PNG fake")
    assert client.get("/lab/api/runs/faces").json()["pictures"] == [
        {"name": "report/confusion.png", "title": "confusion"}
    ]
    assert client.get("/lab/api/runs/faces/pictures/report/confusion.png").status_code == 200
    for sneaky in ("../iris-fast/run.yaml", "run.yaml", "report/../model.safetensors"):
        assert client.get(f"/lab/api/runs/faces/pictures/{sneaky}").status_code == 404


def test_evaluate_scores_the_runs_own_test_split_and_draws(client: TestClient) -> None:
    before = client.get("/lab/api/runs/iris-fast").json()
    out = client.post("/lab/api/runs/iris-fast/evaluate").json()
    # the held-out split re-drawn from the seed: the very numbers of training's end
    assert out["metrics"]["accuracy"] == pytest.approx(before["metrics"]["test"]["accuracy"])
    assert out["metrics"]["n"] == 23
    assert {p["name"] for p in out["pictures"]} >= {"report/confusion_matrix.png"}
    png = client.get("/lab/api/runs/iris-fast/pictures/report/confusion_matrix.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    faces = client.post("/lab/api/runs/faces/evaluate").json()
    assert "report/worst_mistakes.png" in {p["name"] for p in faces["pictures"]}


def test_look_inside_an_image_gives_gradcam_with_its_verdict(
    client: TestClient, face_image: Path
) -> None:
    r = client.post(
        "/lab/api/runs/faces/look",
        files=[("files", (face_image.name, face_image.read_bytes(), "image/png"))],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"][0]["label"] in ("face", "background")
    gradcam = next(v for v in body["views"] if v["name"].startswith("cnn-where-it-looked"))
    assert gradcam["png"].startswith("data:image/png;base64,")
    assert gradcam["checks"]["verdict"] and "trustworthy" in gradcam["checks"]
    bad = client.post(
        "/lab/api/runs/faces/look", files=[("files", ("x.png", b"not an image", "image/png"))]
    )
    assert bad.status_code == 422 and "x.png" in bad.json()["message"]


def test_feature_maps_with_receptive_fields_for_a_cnn_only(
    client: TestClient, face_image: Path
) -> None:
    sent = [("files", (face_image.name, face_image.read_bytes(), "image/png"))]
    out = client.post("/lab/api/runs/faces/maps", files=sent).json()
    sizes = [layer["field"]["size"] for layer in out["layers"]]
    assert len(sizes) >= 2 and sizes == sorted(sizes) and sizes[0] > 1
    assert out["about"] == face_image.name and out["layers"][0]["channels"][0]["png"]
    example = client.get("/lab/api/runs/iris-fast").json()["inputs"]["example"]
    r = client.post("/lab/api/runs/iris-fast/maps", json=example)
    assert r.status_code == 422 and "no convolutional stages" in r.json()["message"]


def test_an_rnn_look_carries_the_numbers_to_step_through(client: TestClient) -> None:
    example = client.get("/lab/api/runs/spots").json()["inputs"]["example"]
    body = client.post("/lab/api/runs/spots/look", json=example).json()
    memory = next(v for v in body["views"] if v["name"].startswith("rnn-memory"))
    hidden = memory["arrays"]["hidden"]
    assert len(hidden) == len(memory["arrays"]["input"]) > 1 and len(hidden[0]) > 1
    assert any(k.startswith("gate_") for k in memory["arrays"])  # an LSTM's gates
    words = client.post("/lab/api/runs/words/look", json={"texts": ["red cat"]}).json()
    attention = next(v for v in words["views"] if v["name"].startswith("seq2seq-attention"))
    a = attention["arrays"]
    assert a["source_tokens"] and len(a["attention"]) == len(a["output_tokens"])
    assert all(abs(sum(row) - 1) < 1e-3 for row in a["attention"])


def test_net_views_and_a_table_row(client: TestClient) -> None:
    views = client.post("/lab/api/runs/iris-fast/views").json()["views"]
    assert any(v["name"] == "ann-weights" for v in views)
    example = client.get("/lab/api/runs/iris-fast").json()["inputs"]["example"]
    body = client.post("/lab/api/runs/iris-fast/look", json=example).json()
    assert body["predictions"][0]["label"] in ("0", "1", "2")
    assert any(v["checks"].get("verdict") for v in body["views"])
    network = next(v for v in body["views"] if v["name"].startswith("ann-network"))
    arrays = network["arrays"]  # what the page's neuron picker reads
    assert len(arrays["weights0"]) == len(arrays["layer1"])
    assert len(arrays["weights0"][0]) == len(arrays["layer0"]) == len(arrays["input_names"])
    wrong = client.post("/lab/api/runs/iris-fast/look", json={"rows": [{"petal": "x"}]})
    assert wrong.status_code == 422


def test_uploads_are_checked_at_once_and_named_as_sent(client: TestClient) -> None:
    empty = client.post(
        "/lab/api/uploads", files={"file": ("prices.csv", b"a,b,target\n", "text/csv")}
    )
    assert empty.status_code == 422
    message = empty.json()["message"]
    assert "'prices.csv' has a header but no rows" in message and "/" not in message
    good = client.post(
        "/lab/api/uploads",
        files={"file": ("prices.csv", b"a,b,price\n1,2,3\n4,5,6\n" * 10, "text/csv")},
    ).json()
    assert good["columns"] == ["a", "b", "price"]
    # a data set without the target: the doctor lists the columns, names no server folder
    r = client.post(
        "/lab/api/jobs", json={"task": "tabular", "upload": good["id"], "options": {"target": "y"}}
    )
    assert r.status_code == 422
    assert "'y'" in r.json()["message"] and "price" in r.json()["message"]
    assert "uploads" not in r.json()["message"]


def test_zip_members_outside_their_folder_are_refused(client: TestClient) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("cats/a.png", b"x")
        z.writestr("../../evil.txt", b"x")
    r = client.post(
        "/lab/api/uploads", files={"file": ("set.zip", buf.getvalue(), "application/zip")}
    )
    assert r.status_code == 422 and "outside its folder" in r.json()["message"]


def test_bad_options_are_refused_with_the_clis_words(client: TestClient) -> None:
    r = client.post(
        "/lab/api/jobs",
        json={"task": "tabular", "builtin": "iris", "options": {"dropout": "2", "epoch": "3"}},
    )
    assert r.status_code == 422
    message = r.json()["message"]
    assert "unknown option 'epoch'" in message and "Did you mean 'epochs'" in message
    r = client.post(
        "/lab/api/jobs", json={"task": "tabular", "builtin": "iris", "options": {"data": "/etc"}}
    )
    assert r.status_code == 422  # no paths in requests
    r = client.post("/lab/api/jobs", json={"task": "tabular", "options": {}})
    assert r.status_code == 422 and "built-in data set or an uploaded file" in r.json()["message"]


def test_a_training_streams_its_progress_and_becomes_a_run(
    client: TestClient, fresh_runs: Path
) -> None:
    forms = {f["task"]: f for f in client.get("/lab/api/tasks").json()}
    fields = {f["name"]: f for f in forms["tabular"]["fields"]}
    assert fields["epochs"]["kind"] == "int" and fields["hidden"]["kind"] == "list"
    assert "data" not in fields  # the data is chosen, never typed as a path
    assert fields["epochs"]["default"] == 30 and forms["images"]["fields"]
    job = client.post(
        "/lab/api/jobs",
        json={
            "task": "tabular",
            "builtin": "iris",
            "options": {"epochs": "6", "hidden": "16, 8", "net": "mlp.small"},
        },
    )
    assert job.status_code == 202, job.text
    seen = events(client, job.json()["id"])
    kinds = [k for k, _ in seen]
    assert kinds[0] == "started" and kinds.count("epoch") == 6 and kinds[-1] == "finished"
    assert "snapshot" in kinds
    finished = seen[-1][1]
    assert finished["status"] == "finished" and str(fresh_runs) not in json.dumps(seen)
    run = finished["run"]
    assert run in {r["name"] for r in client.get("/lab/api/runs").json()}
    assert client.get(f"/lab/api/runs/{run}").json()["config"]["net"]["hidden"] == [16, 8]
    weights = client.get(f"/lab/api/jobs/{job.json()['id']}/weights.png")
    assert weights.status_code == 200 and weights.content[:4] == b"\x89PNG"
    assert client.get("/lab/api/jobs").json()[0]["status"] == "finished"


def test_one_training_at_a_time_and_a_waiting_one_can_be_cancelled(client: TestClient) -> None:
    first = client.post(
        "/lab/api/jobs", json={"task": "tabular", "builtin": "iris", "options": {"epochs": "400"}}
    ).json()
    second = client.post(
        "/lab/api/jobs", json={"task": "tabular", "builtin": "iris", "options": {"epochs": "2"}}
    ).json()
    listing = {j["id"]: j for j in client.get("/lab/api/jobs").json()}
    assert listing[second["id"]]["status"] == "queued" and listing[second["id"]]["position"] == 1
    assert client.post(f"/lab/api/jobs/{second['id']}/stop").json()["status"] == "cancelled"
    client.post(f"/lab/api/jobs/{first['id']}/stop")
    kinds = [k for k, _ in events(client, first["id"])]
    assert kinds[-1] == "finished"
    assert client.get("/lab/api/jobs").json()[-1]["status"] == "stopped"
    assert [k for k, _ in events(client, second["id"])] == ["cancelled"]


def test_with_a_token_the_page_is_open_and_the_api_is_not(fresh_runs: Path) -> None:
    with TestClient(create_lab_app(fresh_runs, token="s3cret")) as c:
        assert c.get("/").status_code == 200
        assert c.get("/lab/static/lab.js").status_code == 200
        assert c.get("/lab/api/runs").status_code == 401
        ok = c.get("/lab/api/runs", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and len(ok.json()) == 5
