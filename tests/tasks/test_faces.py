"""Faces: a person split (validation people never trained on), a verification threshold at
the target false-accept rate, enrol / verify / identify from Python and the CLI, and the
errors a user meets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet
import glassnet.faces as faces
from glassnet.data.builtin_people import make_cartoon_people
from glassnet.errors import ConfigError, DataError
from glassnet.tasks.faces import verification

pytestmark = pytest.mark.xdist_group("faces")


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cartoon_people(tmp_path_factory.mktemp("faces") / "people", people=40, per_person=8)


@pytest.fixture(scope="module")
def trained(people: Path, tmp_path_factory: pytest.TempPathFactory) -> glassnet.api.Run:
    out = tmp_path_factory.mktemp("faces-run") / "run"
    return glassnet.train(
        "faces", str(people), epochs=20, image_size=32, widths=(16, 32, 64), quiet=True, out=out
    )


def test_strangers_are_told_apart(trained: glassnet.api.Run) -> None:
    """Validation and test people were never trained on; same-person pairs are far more
    alike than different-person pairs, and the threshold holds the false-accept rate."""
    val, test = trained.metrics["val"], trained.metrics["test"]
    train_people = set(trained.task.state()["labels"])
    assert len(train_people) == 40 - 2 * 6  # 15 % of 40 people each to validation and test
    assert val["far"] <= 0.02 and 0 < val["threshold"] < 1
    assert test["auc"] > 0.8 and test["rank1"] > 0.5, test
    assert test["genuine_similarity"] > test["impostor_similarity"] + 0.3, test


def test_enrol_verify_identify(trained: glassnet.api.Run, people: Path, tmp_path: Path) -> None:
    folders = sorted(p for p in people.iterdir() if p.is_dir())[:5]
    gallery = tmp_path / "people"
    for f in folders:
        (gallery / f.name).mkdir(parents=True)
        for pic in sorted(f.glob("*.png"))[:4]:
            (gallery / f.name / pic.name).write_bytes(pic.read_bytes())
    g = faces.enrol(trained, gallery, out=tmp_path / "g")
    meta = json.loads((g / "gallery.json").read_text())
    assert meta["people"] == [f.name for f in folders] and meta["pictures"] == [4] * 5
    probe = sorted(folders[2].glob("*.png"))[-1]  # a picture not enrolled
    matches = faces.identify(trained, probe, gallery=g, top=3)
    assert matches[0]["person"] in (folders[2].name, "unknown") and len(matches) <= 4
    same = faces.verify(
        trained, sorted(folders[0].glob("*.png"))[5], sorted(folders[0].glob("*.png"))[6]
    )
    other = faces.verify(
        trained, sorted(folders[0].glob("*.png"))[5], sorted(folders[1].glob("*.png"))[6]
    )
    assert same.similarity > other.similarity and same.threshold == other.threshold
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "glassnet",
            "faces",
            "identify",
            str(trained.path),
            str(probe),
            "--gallery",
            str(g),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["matches"][0]["person"] == matches[0]["person"]


def test_enrol_verify_identify_over_rest(trained: glassnet.api.Run, people: Path) -> None:
    """The same three from the service, with pictures as multipart files: the answers
    equal the Python API's on the same pictures."""
    from fastapi.testclient import TestClient

    from glassnet.serve import create_app

    folders = sorted(p for p in people.iterdir() if p.is_dir())[:4]
    pics = {f.name: sorted(f.glob("*.png")) for f in folders}
    client = TestClient(create_app({"people": trained}))

    def upload(paths: list[Path]) -> list:
        return [("files", (p.name, p.read_bytes(), "image/png")) for p in paths]

    missing = client.post("/v1/models/people/identify", files=upload(pics[folders[0].name][:1]))
    assert missing.status_code == 422 and "enrol" in missing.json()["message"]
    names = [n for n in pics for _ in range(3)]
    enrolled = client.post(
        "/v1/models/people/enrol",
        files=upload([p for n in pics for p in pics[n][:3]]),
        data={"people": names},
    )
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json() == {"people": sorted(pics), "pictures": [3] * 4}
    probe = pics[folders[1].name][-1]
    answer = client.post("/v1/models/people/identify?top=2", files=upload([probe])).json()
    assert answer["matches"] == faces.identify(trained, probe, top=2)
    a, b = pics[folders[0].name][4], pics[folders[0].name][5]
    verdict = client.post("/v1/models/people/verify", files=upload([a, b])).json()
    local = faces.verify(trained, a, b)
    assert verdict == {
        "same": local.same,
        "similarity": local.similarity,
        "threshold": local.threshold,
    }
    one = client.post("/v1/models/people/verify", files=upload([a]))
    assert one.status_code == 422 and "exactly two" in one.json()["message"]
    uneven = client.post("/v1/models/people/enrol", files=upload([a, b]), data={"people": ["x"]})
    assert uneven.status_code == 422 and "2 pictures but 1 names" in uneven.json()["message"]
    assert "/v1/models/people/verify" in client.get("/openapi.json").json()["paths"]


def test_verification_numbers_on_known_embeddings() -> None:
    """Two tight clusters far apart: every same-person pair accepted, no stranger."""
    rng = np.random.default_rng(0)
    centres = np.eye(4)[:2]
    emb = np.concatenate([c + rng.normal(0, 0.05, (10, 4)) for c in centres])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    scores = verification(emb, np.repeat([0, 1], 10), far=0.01)
    assert scores["tar"] == 1.0 and scores["auc"] == 1.0 and scores["rank1"] == 1.0


def test_people_errors(tmp_path: Path) -> None:
    few = make_cartoon_people(tmp_path / "few", people=3, per_person=3)
    with pytest.raises(DataError, match="left to train on"):
        glassnet.train("faces", str(few), epochs=1, quiet=True, out=tmp_path / "r")
    tab = glassnet.train("tabular", "builtin:iris", epochs=1, quiet=True, out=tmp_path / "t")
    with pytest.raises(ConfigError, match="need a faces run"):
        faces.verify(tab, "a.png", "b.png")
