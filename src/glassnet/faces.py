"""Use a trained face embedder: enrol people into a gallery, verify two pictures, identify
a picture against the gallery.

A gallery is `gallery.safetensors` (one unit-length mean embedding per person) and
`gallery.json` (names, picture counts, the run): data, never pickle. Same or different is
decided by the run's validation threshold (the similarity that the target share of
different-person pairs exceeded; `metrics.json`, `val.threshold`).

    >>> import glassnet, glassnet.faces as faces                     # doctest: +SKIP
    >>> run = glassnet.load("runs/faces-1")                          # doctest: +SKIP
    >>> faces.enrol(run, "gallery/")                                 # doctest: +SKIP
    >>> faces.identify(run, "probe.jpg", top=3)                      # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.api import Run
from glassnet.data.gallery import GALLERY, read_gallery, write_gallery
from glassnet.data.images import list_class_folders
from glassnet.errors import ConfigError, DataError, RunError
from glassnet.tasks.messages import UploadedFile

Picture = str | Path | UploadedFile  # a file, or a picture sent to the service


def embed(run: Run, pictures: Any) -> tuple[np.ndarray, list[str]]:
    """Unit-length embeddings (N, D) of picture files / folders / globs, with their names."""
    _is_faces(run)
    encoded = run.task.encode(pictures, with_targets=False)
    out = run._outputs(encoded, with_loss=False)
    return out.outputs.float().cpu().numpy(), list(encoded.names or [])


def threshold(run: Run) -> float:
    value = (run.metrics.get("val") or {}).get("threshold")
    if value is None or not np.isfinite(value):
        raise RunError(
            f"{run.path} has no validation threshold (metrics.json: val.threshold)",
            fix="Train with validation people (the default --val-fraction 0.15)",
        )
    return float(value)


def enrol(run: Run, folder: str | Path, out: str | Path | None = None) -> Path:
    """One entry per sub-folder of `folder` (a person): the mean of their embeddings, made
    unit-length again. Written to `out` (default RUN/gallery/); returns that folder."""
    images = list_class_folders(Path(folder)) if _has_people(Path(folder)) else None
    if images is None or images.labels is None:
        raise DataError(
            f"'{folder}' has no person folders",
            fix="Put each person's pictures in a sub-folder named after them",
        )
    people: dict[str, list[Picture]] = {}
    for path, person in zip(images.paths, images.labels, strict=True):
        people.setdefault(person, []).append(path)
    return enrol_people(run, people, out)


def enrol_people(run: Run, people: dict[str, list[Picture]], out: str | Path | None = None) -> Path:
    """The gallery of `people` ({name: pictures (paths or uploaded files)}), as `enrol`."""
    _is_faces(run)
    if not people:
        raise DataError("no people to enrol", fix="Give at least one person with pictures")
    names = sorted(people)
    means, counts = [], []
    for name in names:
        emb, _ = embed(run, _pictures(people[name]))
        if not len(emb):
            raise DataError(f"none of {name}'s pictures could be read", fix="Check them")
        mean = emb.mean(0)
        means.append(mean / max(np.linalg.norm(mean), 1e-12))
        counts.append(len(emb))
    target = Path(out) if out is not None else run.path / GALLERY
    about = {"pictures": counts, "run": str(run.path), "threshold": threshold(run)}
    return write_gallery(target, names, np.stack(means), about)


def _pictures(items: list[Picture]) -> list[Any]:
    """Uploaded files as they are (the task reads them from memory), paths as text."""
    if items and all(isinstance(i, UploadedFile) for i in items):
        return list(items)
    return [str(i) for i in items]


@dataclass
class Verdict:
    same: bool
    similarity: float
    threshold: float


def verify(run: Run, a: Picture, b: Picture) -> Verdict:
    """Are the faces in `a` and `b` the same person?"""
    emb, _ = embed(run, _pictures([a, b]))
    if len(emb) != 2:
        raise DataError("verify needs two readable pictures", fix="Check both files")
    sim, limit = float(emb[0] @ emb[1]), threshold(run)
    return Verdict(sim > limit, round(sim, 4), round(limit, 4))


def identify(
    run: Run, probe: Picture, gallery: str | Path | None = None, top: int = 5
) -> list[dict[str, Any]]:
    """The gallery's closest people to the face in `probe`, best first, each with its
    similarity and whether it clears the threshold; [{"person": "unknown", ...}] first when
    nobody does."""
    folder = Path(gallery) if gallery is not None else run.path / GALLERY
    found = read_gallery(folder)
    if found is None:
        raise RunError(
            f"no gallery in '{folder}'",
            fix=f"Build one first: glassnet faces enrol {run.path} PEOPLE_FOLDER",
        )
    people, means = found
    emb, _ = embed(run, _pictures([probe]))
    sims = means @ emb[0]
    limit = threshold(run)
    order = np.argsort(-sims)[:top]
    matches = [
        {
            "person": people[k],
            "similarity": round(float(sims[k]), 4),
            "match": bool(sims[k] > limit),
        }
        for k in order
    ]
    if not matches or not matches[0]["match"]:
        best = matches[0]["similarity"] if matches else float("nan")
        matches.insert(0, {"person": "unknown", "similarity": best, "match": False})
    return matches


def _is_faces(run: Run) -> None:
    if run.spec.task != "faces":
        raise ConfigError(
            f"{run.path} is a {run.spec.task} run; enrol, verify and identify need a faces run",
            fix="Train one: glassnet train faces --data PEOPLE_FOLDER",
        )


def _has_people(folder: Path) -> bool:
    if not folder.is_dir():
        raise DataError(f"'{folder}' is not a folder", fix="Check the path")
    return any(d.is_dir() for d in folder.iterdir())
