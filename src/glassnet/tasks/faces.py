"""Face recognition: a CNN embedder trained with ArcFace on a folder of people (one
sub-folder per person), then used to enrol, verify and identify (`glassnet.faces`).

The split is by person: validation and test people are never seen in training, so the
scores say how the net does on strangers. Validation measures verification over every pair
of validation pictures: the similarity threshold at the target false-accept rate (`--far`),
the true-accept rate there, ROC AUC, and rank-1 identification; the threshold of the best
epoch is what `verify` / `identify` use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field
from torch import nn

from glassnet.config import DataSpec, NetSpec
from glassnet.data.augment import BatchAugment
from glassnet.data.face_finder import FaceFiles, FoundFace, crop_face, find_faces, levelled
from glassnet.data.images import (
    ImageFiles,
    check_images,
    color_mode,
    decode_image,
    pixel_stats,
    stats_sample,
    stretch,
)
from glassnet.data.splits import Batch
from glassnet.errors import ConfigError, DataError, GlassnetError, RunError
from glassnet.nets import create_net
from glassnet.nets.face import FaceEmbedder
from glassnet.nets.pretrained import PretrainedWeightsUnavailable
from glassnet.tasks._base import DataSplits, StepOutput, open_trained_run, register_task
from glassnet.tasks.images import IMAGE_SNIPPET, ImagesDataSpec, ImagesTask, _auto_size, _unwrap

AUTO_SAMPLE = 20  # training pictures --detect auto tries the face finder on
MAX_VERIFIED = 3000  # pictures per verification score (all pairs: 4.5 M similarities)


class FacesDataSpec(ImagesDataSpec):
    embedding: int = Field(128, ge=8, le=1024, description="length of the face embedding")
    loss: Literal["arcface", "triplet"] = Field(
        "arcface",
        description="arcface: an angular margin around one learned direction per training "
        "person; triplet: each picture nearer its hardest same-person picture than its "
        "hardest other-person one in the batch, by the margin",
    )
    margin: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="ArcFace: angular margin (radians) between people; triplet: the similarity gap",
    )
    scale: float = Field(30.0, gt=0, le=128, description="ArcFace logit scale")
    far: float = Field(
        1e-2, gt=0, lt=1, description="false-accept rate the verification threshold is set at"
    )
    detect: Literal["auto", "on", "off"] = Field(
        "auto",
        description="find the face in each picture and level its eyes first (OpenCV Haar "
        "cascades, or --detector); off: the pictures are face crops; auto: on when the "
        "finder finds one face in most training pictures",
    )
    detector: str | None = Field(
        None,
        description="a glassnet detection run (its folder) that finds the faces instead of "
        "OpenCV's Haar cascades: one trained with `glassnet train detection` on pictures "
        "with face boxes; the faces run keeps its path and opens it to find faces later",
    )


def verification(emb: np.ndarray, people: np.ndarray, far: float) -> dict[str, float]:
    """Every pair of pictures: the threshold that `far` of different-person pairs exceed,
    the share of same-person pairs above it (TAR), ROC AUC, and rank-1 identification."""
    from sklearn.metrics import roc_auc_score, roc_curve

    if len(emb) > MAX_VERIFIED:  # a fixed subsample: the same pairs every epoch
        keep = np.random.default_rng(0).choice(len(emb), MAX_VERIFIED, replace=False)
        emb, people = emb[keep], people[keep]
    sims = emb @ emb.T
    i, j = np.triu_indices(len(emb), k=1)
    same = people[i] == people[j]
    pair_sims = sims[i, j]
    genuine, impostor = pair_sims[same], pair_sims[~same]
    if len(genuine) == 0 or len(impostor) == 0:
        return {"tar": float("nan"), "threshold": float("nan")}
    threshold = float(np.quantile(impostor, 1 - far))
    # balanced same/different accuracy at the threshold best for it (a ceiling: the run's
    # own threshold is the validation one, set at `far`)
    fpr, tpr, _ = roc_curve(same, pair_sims)
    balanced = float(np.max((tpr + 1 - fpr) / 2))
    tar_at = {
        f"tar_at_far_{rate:.0e}".replace("e-0", "e-"): float(
            np.mean(genuine > np.quantile(impostor, 1 - rate))
        )
        for rate in (1e-2, 1e-3)
    }
    np.fill_diagonal(sims, -np.inf)
    nearest = sims.argmax(1)
    has_twin = np.array([np.sum(people == p) > 1 for p in people])
    return {
        "tar": float(np.mean(genuine > threshold)),
        "threshold": threshold,
        "far": float(np.mean(impostor > threshold)),
        "auc": float(roc_auc_score(same, pair_sims)),
        "rank1": float(np.mean(people[nearest][has_twin] == people[has_twin])),
        "genuine_similarity": float(genuine.mean()),
        "impostor_similarity": float(impostor.mean()),
        "verification_accuracy": float(balanced),
        **tar_at,
        **identification(emb, people),
    }


def identification(emb: np.ndarray, people: np.ndarray) -> dict[str, float]:
    """Top-1 identification: each person enrolled by their first picture (`top1`) or the
    mean of their first five (`top1_enrol5`, people with six or more), the rest as probes
    against everyone enrolled."""
    out = {}
    for name, k in (("top1", 1), ("top1_enrol5", 5)):
        enrolled, probes, probe_people, names = [], [], [], []
        for person in np.unique(people):
            rows = np.flatnonzero(people == person)
            if len(rows) <= k:
                continue
            centre = emb[rows[:k]].mean(0)
            enrolled.append(centre / (np.linalg.norm(centre) + 1e-12))
            names.append(person)
            probes.append(emb[rows[k:]])
            probe_people += [person] * (len(rows) - k)
        if len(names) >= 2:
            best = (np.concatenate(probes) @ np.stack(enrolled).T).argmax(1)
            out[name] = float(np.mean(np.asarray(names)[best] == np.asarray(probe_people)))
    return out


@register_task
class FacesTask(ImagesTask):
    """Faces in, an embedding out; people told apart by how close their embeddings are."""

    name: ClassVar[str] = "faces"
    data_spec: ClassVar[type[DataSpec]] = FacesDataSpec
    default_net: ClassVar[str] = "cnn.small"
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 25, "monitor": "val_tar", "patience": 8}
    min_steps: ClassVar[int] = 0  # its own 25 epochs: the small-data rule was measured on
    # class folders and scenes, not on people
    commands: ClassVar[str | None] = "glassnet.faces_cli"
    evaluation_figure: ClassVar[str | None] = "roc"  # and the raw-pixel baseline
    service: ClassVar[str | None] = "glassnet.faces_service"
    spec: FacesDataSpec
    _find: Callable[[Image.Image], list[FoundFace]] | None = None  # see `_finder`

    def augmenter(self, color: bool) -> BatchAugment:
        """The images recipe plus random erasing in half the pictures: no single part (the
        eyes, the hair) may decide who it is. Measured on 40 strangers drawn in another
        style (cartoon-people --style flat) by a net trained on the built-in cartoons:
        verification 0.921 -> 0.960, TAR@1e-2 0.68 -> 0.77, top-1 0.72 -> 0.76; on
        strangers drawn alike it costs little (0.982 -> 0.977, 0.94 -> 0.91, 0.91 -> 0.92).
        Not with --loss triplet: there it pulled strangers closer together (tested)."""
        return BatchAugment(color=color, erase=0.5 if self.spec.loss == "arcface" else 0.0)

    def load_data(self) -> DataSplits:
        images = self._listing("data")
        assert images is not None and images.labels is not None
        check = check_images(images, skip_bad=self.spec.skip_bad)
        paths = [images.paths[i] for i in check.good]
        names = [images.labels[i] for i in check.good]
        faces, detect_notes = self._find_faces(paths)
        if faces is not None:  # pictures without exactly one face are left out (counted)
            names = [n for p, n in zip(paths, names, strict=True) if str(p) in faces]
            paths = [p for p in paths if str(p) in faces]
        given = {k: self._listing(k) for k in ("val", "test")}
        groups = self._split_people(sorted(set(names)), given)
        order = [p for part in ("train", "val", "test") for p in groups[part]]
        index = {p: k for k, p in enumerate(order)}
        for part in ("val", "test"):
            listed = given[part]
            if listed is not None:  # people from their own folder: after everyone else
                check_more = check_images(listed, skip_bad=self.spec.skip_bad)
                assert listed.labels is not None
                more = [listed.paths[k] for k in check_more.good]
                if faces is not None:
                    faces.update(self._faces_in(more))
                for k in check_more.good:
                    if faces is None or str(listed.paths[k]) in faces:
                        paths.append(listed.paths[k])
                        names.append(f"{part}:{listed.labels[k]}")
                groups[part] = sorted({f"{part}:{lab}" for lab in listed.labels})
                index.update({p: len(index) + n for n, p in enumerate(groups[part])})
        y = np.array([index[n] for n in names])
        where = {p: part for part, people in groups.items() for p in people}
        rows = {part: np.flatnonzero([where[n] == part for n in names]) for part in groups}
        for part in ("val", "test"):
            if groups[part]:
                _need_pairs(part, [names[k] for k in rows[part]])
        mode = color_mode(check.modes)
        size = self.spec.image_size or _auto_size(check.sizes)
        files = (
            ImageFiles(paths, size, mode, y.tolist())
            if faces is None
            else FaceFiles(paths, size, mode, y.tolist(), faces)
        )
        mean, std = pixel_stats(files.subset(stats_sample(rows["train"], self.seed)))
        self._st = {
            "labels": groups["train"],  # the people the margin loss was trained on
            "mode": mode,
            "image_size": size,
            "mean": mean.tolist(),
            "std": np.maximum(std, 1e-3).tolist(),
            "augment": self.spec.augment == "on" or (self.spec.augment == "auto" and size >= 32),
            "class_weights": None,
            "embedding": self.spec.embedding,
            "margin": self.spec.margin,
            "scale": self.spec.scale,
            "far": self.spec.far,
            "detect": faces is not None,
            "detector": self._finder().path if faces is not None and self.spec.detector else None,
            "loss": self.spec.loss,
        }
        counts = {part: len(people) for part, people in groups.items()}
        summary = (
            f"{len(paths)} pictures of {len(index)} people: {counts['train']} to train on, "
            f"{counts['val']} for validation and {counts['test']} for the test, never seen "
            f"in training; {mode}, {size}x{size} px"
        )
        notes = [*check.notes, *detect_notes, summary]
        return DataSplits(
            train=files.subset(rows["train"]),
            val=files.subset(rows["val"]) if groups["val"] else None,
            test=files.subset(rows["test"]) if groups["test"] else None,
            notes=notes,
        )

    # ---- finding the face in each picture ------------------------------------------------
    def _find_faces(self, paths: list[Path]) -> tuple[dict[str, FoundFace] | None, list[str]]:
        """The face of every picture that holds exactly one (None: pictures are crops),
        with notes on the choice and on the pictures left out."""
        detect = self.spec.detect
        if detect == "off":
            return None, []
        sample: list[Path] = []
        faces: dict[str, FoundFace] = {}
        if detect == "auto":
            rng = np.random.default_rng(self.seed)
            sample = [paths[i] for i in rng.permutation(len(paths))[:AUTO_SAMPLE]]
            faces = self._faces_in(sample)
            if len(faces) < 0.8 * len(sample):
                return None, [
                    f"the face finder found one face in {len(faces)} of {len(sample)} sampled "
                    "pictures: they are taken as face crops (--detect on to find faces anyway)"
                ]
        sampled = {str(p) for p in sample}  # searched already
        faces.update(self._faces_in([p for p in paths if str(p) not in sampled]))
        by = f"the detection run '{self.spec.detector}'" if self.spec.detector else "Haar cascades"
        notes = [
            f"faces found and aligned (eyes levelled) in {len(faces)} of {len(paths)} pictures, "
            f"by {by}"
        ]
        left = [p for p in paths if str(p) not in faces]
        if left:
            shown = ", ".join(p.name for p in left[:5]) + (" ..." if len(left) > 5 else "")
            notes.append(f"{len(left)} picture(s) without exactly one face were left out: {shown}")
        if len(faces) < 2:
            raise DataError(
                f"the face finder found one face in {len(faces)} of {len(paths)} pictures",
                fix="Pass face crops with --detect off, or pictures with one frontal face each",
            )
        return faces, notes

    def _faces_in(self, paths: list[Path]) -> dict[str, FoundFace]:
        out = {}
        find = self._finder()
        for path in paths:
            with Image.open(path) as im:
                found = find(im)
            if len(found) == 1:
                out[str(path)] = found[0]
        return out

    def _finder(self) -> Callable[[Image.Image], list[FoundFace]]:
        """Haar's cascades, or the detection run the spec (training) or the fitted state
        (a trained run, by its full path) names; opened once."""
        if self._find is None:
            path = (self._st or {}).get("detector") or self.spec.detector
            self._find = find_faces if path is None else DetectorFinder(path)
        return self._find

    def _the_face(self, im: Image.Image, where: str) -> FoundFace:
        """The one face in a picture to embed; a picture with none or several is refused."""
        found = self._finder()(im)
        if len(found) != 1:
            raise DataError(
                f"{where} holds {len(found)} faces; a face run embeds one face at a time"
                if found
                else f"no face was found in {where}",
                fix="Give a picture with one frontal face, or crop it to the face",
            )
        return found[0]

    def inference_files(self, paths: list[Path], targets: list[int] | None) -> ImageFiles:
        st = self.state()
        if not st.get("detect"):
            return super().inference_files(paths, targets)
        faces = {}
        for path in paths:
            with Image.open(path) as im:
                faces[str(path)] = self._the_face(im, str(path))
        return FaceFiles(paths, st["image_size"], st["mode"], targets, faces)

    def upload_pixels(self, data: bytes, name: str) -> np.ndarray:
        if not self.state().get("detect"):
            return super().upload_pixels(data, name)
        return decode_image(data, 0, "", loader=lambda f, _s, _m: self._upload_face(f, name))

    def _upload_face(self, file: Any, name: str) -> np.ndarray:
        st = self.state()
        with Image.open(file) as im:
            im.load()
            face = self._the_face(im, f"upload '{name}'")
            return crop_face(im, face, st["image_size"], st["mode"])

    def _split_people(self, people: list[str], given: dict[str, Any]) -> dict[str, list[str]]:
        """Whole people to each split: a person's pictures never straddle two."""
        rng = np.random.default_rng(self.seed)
        shuffled = [people[k] for k in rng.permutation(len(people))]
        out: dict[str, list[str]] = {"val": [], "test": []}
        for part, fraction in (("test", self.spec.test_fraction), ("val", self.spec.val_fraction)):
            if given[part] is None and fraction > 0:
                n = max(2, round(fraction * len(people)))
                out[part], shuffled = shuffled[:n], shuffled[n:]
        if len(shuffled) < 2:
            raise DataError(
                f"only {len(shuffled)} person left to train on after the validation and test "
                f"people ({len(people)} people in all)",
                fix="Add people (folders), or lower --val-fraction / --test-fraction",
            )
        out["train"] = sorted(shuffled)
        return out

    # ---- net and loss ----------------------------------------------------------------------
    def build_net(self, net: NetSpec) -> nn.Module:
        st = self.state()
        try:
            backbone = create_net(
                net.name,
                in_channels=1 if st["mode"] == "L" else 3,
                num_outputs=st["embedding"],
                **net.options,
            )
        except PretrainedWeightsUnavailable as e:
            raise ConfigError(str(e)) from None
        return FaceEmbedder(backbone, len(st["labels"]), st["embedding"], st["margin"], st["scale"])

    def step(self, net: nn.Module, batch: Batch) -> StepOutput:
        (x,) = self.net_inputs(net, batch)
        y = batch["y"]
        if net.training:  # margin logits against the training people
            logits, emb = net(x, y)
            if self.state().get("loss") == "triplet":  # the logits only keep DDP's graph whole
                loss = triplet_loss(emb, y, self.state()["margin"]) + 0.0 * logits.sum()
                return StepOutput(loss, emb)
            return StepOutput(torch.nn.functional.cross_entropy(logits, y), emb)
        emb = net(x)
        return StepOutput(_pair_loss(emb, y), emb)

    def target_ids(self, labels: list[str], source: str) -> list[int]:
        """Any people can be scored (evaluation is about strangers): each person of the
        folder gets a number of its own; only same / different matters."""
        people = {name: k for k, name in enumerate(dict.fromkeys(labels))}
        return [people[name] for name in labels]

    def class_labels(self) -> list[str] | None:
        return None  # an embedding, not classes: no confusion matrix, no class Grad-CAM

    def decode(self, outputs: torch.Tensor, batch: Batch) -> list[dict[str, Any]]:
        return [{"embedding": [round(float(v), 6) for v in e]} for e in outputs.float().cpu()]

    def score(self, outputs: torch.Tensor, batch: Batch) -> dict[str, float]:
        emb = outputs.float().cpu().numpy()
        return verification(emb, batch["y"].cpu().numpy(), self.state()["far"])

    def export_snippet(self) -> str:
        return IMAGE_SNIPPET + EMBEDDING_SNIPPET

    def export_module(self, net: nn.Module) -> nn.Module:
        return super().export_module(_unwrap(net))


class DetectorFinder:
    """Faces found by a glassnet detection run: its boxes of the class "face" (of every
    class when it has none) above its score threshold, the eyes then levelled as after
    Haar's cascades."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(Path(path).resolve())
        try:
            self.task, self.net = open_trained_run(path)
        except GlassnetError as e:
            raise RunError(
                f"the face detector '{path}' cannot be opened: {e.what}",
                fix="--detector takes the folder of a run made by `glassnet train detection`; "
                "a faces run trained with one needs it where it was (its path is in "
                "preprocess.json: detector)",
            ) from None
        if self.task.name != "detection":
            raise ConfigError(
                f"'{path}' is a {self.task.name} run, not a detection run",
                fix="Pass --detector the folder of a run made by `glassnet train detection`",
            )
        classes = self.task.state()["classes"]
        self.face = "face" if "face" in classes else None

    def __call__(self, im: Image.Image) -> list[FoundFace]:
        st = self.task.state()
        size = st["image_size"]
        pixels, (w, h) = stretch(im, size, st["mode"])
        batch = {
            "x": torch.from_numpy(pixels[None].copy()),
            "scale": torch.tensor([[size / w, size / h]]),
        }
        with torch.inference_mode():
            (answer,) = self.task.decode(self.task.forward(self.net, batch), batch)
        boxes = [d["box"] for d in answer["detections"] if self.face in (None, d["label"])]
        return levelled(im, boxes)


def triplet_loss(emb: torch.Tensor, people: torch.Tensor, margin: float) -> torch.Tensor:
    """Batch-hard triplets (Hermans et al. 2017) with a soft maximum: every picture that has
    another of its person in the batch should be more similar to the least similar of them
    than to the most similar picture of anyone else, by `margin`. Soft (log-sum-exp at
    temperature 1/16, softplus) so that no single pair decides, and so that embeddings
    that start out alike still get pushed apart (a hard max stalls there)."""
    sims = emb @ emb.T
    same = people[:, None] == people[None, :]
    off = ~torch.eye(len(emb), dtype=torch.bool, device=emb.device)
    positives = same & off
    anchors = positives.any(1) & (~same).any(1)
    if not anchors.any():
        return 0.0 * sims.sum()
    t = 16.0
    hardest_positive = -torch.logsumexp((-t * sims).masked_fill(~positives, -1e4), 1) / t
    hardest_negative = torch.logsumexp((t * sims).masked_fill(same, -1e4), 1) / t
    gaps = torch.nn.functional.softplus(t * (hardest_negative - hardest_positive + margin)) / t
    return gaps[anchors].mean()


def _pair_loss(emb: torch.Tensor, people: torch.Tensor) -> torch.Tensor:
    """A validation loss that needs no training people: same-person pairs should be
    similar (1 - cos), different people at most orthogonal (max(cos, 0))."""
    sims = emb @ emb.T
    same = people[:, None] == people[None, :]
    off = ~torch.eye(len(emb), dtype=torch.bool, device=emb.device)
    genuine, impostor = sims[same & off], sims[~same]
    parts = [(1 - genuine).mean() if len(genuine) else None, impostor.clamp(min=0).mean()]
    return sum(p for p in parts if p is not None) if len(impostor) else sims.new_zeros(())


def _need_pairs(part: str, names: list[str]) -> None:
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    if sum(c >= 2 for c in counts.values()) < 2:
        raise DataError(
            f"the {part} people need at least two people with two or more pictures each "
            f"(to compare same-person pairs); they have {dict(sorted(counts.items()))}",
            fix="Add pictures, or more people",
        )


EMBEDDING_SNIPPET = """\
answer = [{"embedding": [round(float(v), 6) for v in e]} for e in out]
# two faces are the same person when their dot product exceeds the run's validation
# threshold (metrics.json: val.threshold; glassnet faces verify uses it)
"""
