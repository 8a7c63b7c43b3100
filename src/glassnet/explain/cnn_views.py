"""CNN views: first-layer filters, feature maps of each stage, and where the net looked
(Grad-CAM on the last stage, and gradient saliency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.patches import Rectangle
from torch import nn
from torch.nn import functional as F

from glassnet.explain.cnn_probe import Field, receptive_fields
from glassnet.explain.figures import category_colour, new_figure, weights_figure
from glassnet.explain.sanity import randomisation_check
from glassnet.explain.views import View, register_view


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two weight tensors, flattened."""
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def _first_conv(net: nn.Module) -> nn.Conv2d:
    return next(m for m in net.modules() if isinstance(m, nn.Conv2d))


FILTER_KINDS = ("colour blob", "edge", "noise-like")


def filter_kinds(w: np.ndarray) -> list[str] | None:
    """What each first-layer filter (C_out, C_in, k, k) is, from where its energy sits in
    its 2-D spectrum (summed over input channels): mostly the mean (DC) = a colour blob
    (it responds to a colour, or a colour against another); mostly the first harmonic (one
    cycle across the filter) = an edge or bar at some orientation; otherwise noise-like
    (white noise puts 64 % of a 5x5 filter's energy above the first harmonic). None for
    filters smaller than 5x5, whose 3x3 spectrum has no room above the first harmonic."""
    k = w.shape[-1]
    if k < 5:
        return None
    power = np.abs(np.fft.fft2(w, axes=(-2, -1))) ** 2  # (C_out, C_in, k, k)
    power = power.sum(1)
    freq = np.abs(np.fft.fftfreq(k) * k)
    ring = np.maximum(freq[:, None], freq[None, :])  # 0 = DC, 1 = first harmonic, ...
    total = power.sum((-2, -1)) + 1e-12
    dc = power[:, ring == 0].sum(-1) / total
    first = power[:, ring == 1].sum(-1) / total
    return [
        "colour blob" if d >= 0.5 else "edge" if f >= 0.5 else "noise-like"
        for d, f in zip(dc, first, strict=True)
    ]


def _kinds_said(kinds: list[str]) -> str:
    counts = {k: kinds.count(k) for k in FILTER_KINDS if kinds.count(k)}
    return ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in counts.items())


@register_view("cnn", "model")
def first_layer_filters(run: Any, encoded: Any) -> list[View]:
    w = _first_conv(run.net).weight.detach().float().cpu().numpy()  # (C_out, C_in, k, k)
    k = w.shape[-1]
    kinds = filter_kinds(w)
    fig = weights_figure(w, "first-layer filters", max_filters=w.shape[0])
    if kinds is None:
        title = "First-layer filters: what the net looks for first"
        said = (
            f"Each tile is one {k}x{k} filter, stretched to full contrast: too small to show "
            "a shape; read their colours (which colour each one responds to). Train with "
            "--first-kernel 5 --first-init 0.2 to see edges and blobs form."
        )
    else:
        title = f"First-layer filters: {_kinds_said(kinds)}"
        said = (
            f"Each tile is one {k}x{k} filter, stretched to full contrast. Measured from where "
            "each filter's energy sits (its mean, one cycle across it, or finer): "
            f"{_kinds_said(kinds)}. Colour blobs respond to a colour (or one colour against "
            "another), edges to a change of brightness in one direction; noise-like filters "
            "still look like their random start. Every later layer is built from their "
            "responses."
        )
    arrays: dict[str, Any] = {"filters": w}
    if kinds is not None:
        arrays["kinds"] = np.array(kinds)
    return [View("cnn-filters", title, said, fig, arrays)]


@register_view("cnn", "model")
def filter_evolution(run: Any, encoded: Any) -> list[View]:
    from safetensors.torch import load_file

    path = run.path / "snapshots" / "learning.safetensors"
    if not path.is_file():
        return []
    saved = load_file(path)
    snaps = {k.removeprefix("weights_"): v for k, v in saved.items() if k.startswith("weights_")}
    epochs = sorted(int(k.split("_")[1]) for k in snaps)
    shown = (
        sorted({epochs[round(i * (len(epochs) - 1) / 7)] for i in range(8)})
        if len(epochs) > 8
        else epochs
    )
    n_filters = min(8, snaps["epoch_0"].shape[0])
    fig, axes = new_figure(1.0 * len(shown) + 0.6, 1.0 * n_filters + 0.5, n_filters, len(shown))
    axes = np.atleast_2d(axes)
    w0 = snaps["epoch_0"].numpy()
    for c, ep in enumerate(shown):
        w = snaps[f"epoch_{ep}"].numpy()
        for r in range(n_filters):
            f = w[r]
            f = (f - f.min()) / (f.max() - f.min() + 1e-12)
            ax = axes[r, c]
            ax.imshow(
                f.transpose(1, 2, 0) if f.shape[0] == 3 else f[0],
                cmap=None if f.shape[0] == 3 else "gray",
                interpolation="nearest",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                moved = float(np.linalg.norm(w - w0) / (np.linalg.norm(w0) + 1e-12))
                ax.set_title("start" if ep == 0 else f"epoch {ep}\nmoved {moved:.0%}", fontsize=7)
    last = snaps[f"epoch_{epochs[-1]}"].numpy()
    moved = float(np.linalg.norm(last - w0) / (np.linalg.norm(w0) + 1e-12))
    still = _correlation(last, w0)
    verdict = (
        f"they moved {moved:.0%} from their random start and still correlate {still:.2f} with "
        "it: the later layers did most of the learning, these tiles are mostly the "
        "initial noise"
        if still > 0.8
        else f"they moved {moved:.0%} from their random start (correlation with it now "
        f"{still:.2f}): what they respond to was learned"
    )
    kinds_then, kinds_now = filter_kinds(w0), filter_kinds(last)
    if kinds_then is not None and kinds_now is not None:
        verdict += (
            f". By where their energy sits: at the start {_kinds_said(kinds_then)}; now "
            f"{_kinds_said(kinds_now)}"
        )
    views = [
        View(
            "cnn-filter-evolution",
            "First-layer filters while learning: "
            + ("mostly their random start" if still > 0.8 else "learned"),
            (
                "Each row follows one first-layer filter through training, left to right; the "
                "titles say how far all filters have moved from their random start. "
                f"Here {verdict}."
            ),
            fig,
            {f"epoch_{e}": snaps[f"epoch_{e}"].numpy() for e in shown},
        )
    ]
    stage_keys = sorted({k.split("_")[0] for k in saved if k.startswith("stage")})
    if stage_keys:
        fig, axes = new_figure(
            1.1 * len(shown) + 0.8, 1.2 * len(stage_keys) + 0.5, len(stage_keys), len(shown)
        )
        axes = np.atleast_2d(axes)
        for r, stage in enumerate(stage_keys):
            for c, ep in enumerate(shown):
                ax = axes[r, c]
                ax.imshow(saved[f"{stage}_epoch_{ep}"].numpy(), cmap="magma")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title("start" if ep == 0 else f"epoch {ep}", fontsize=7)
            axes[r, 0].set_ylabel(stage.replace("stage", "stage "), fontsize=7)
        views.append(
            View(
                "cnn-feature-map-evolution",
                "Feature maps while learning",
                (
                    "The same training picture seen by each conv stage (mean activation over its "
                    "channels) at the start and after each epoch. Watch the responses sharpen from "
                    "diffuse noise onto the outline, the eyes and the ears as the net learns."
                ),
                fig,
                {
                    f"{s}_epoch_{e}": saved[f"{s}_epoch_{e}"].numpy()
                    for s in stage_keys
                    for e in shown
                },
            )
        )
    return views


@register_view("cnn", "input")
def feature_maps_and_gradcam(run: Any, encoded: Any) -> list[View]:
    from captum.attr import LayerGradCam, Saliency

    net = run.net.eval()
    task = run.task
    first = {k: v[:1] for k, v in encoded.batch.items()}
    raw = first["x"]
    x = task.net_inputs(net, first)[0].contiguous()
    maps, hooks = [], []
    for stage in net.stages:
        hooks.append(stage.register_forward_hook(lambda m, i, o: maps.append(o.detach())))
    with torch.no_grad():
        target = int(net(x).argmax(-1))
    for h in hooks:
        h.remove()
    image = raw[0].numpy().transpose(1, 2, 0)
    show = image[..., 0] if image.shape[-1] == 1 else image
    views = []
    per = 6
    fig, axes = new_figure(1.3 * (per + 1), 1.4 * len(maps) + 0.3, len(maps), per + 1)
    axes = np.atleast_2d(axes)
    for r, fmap in enumerate(maps):
        axes[r, 0].imshow(show, cmap="gray" if show.ndim == 2 else None)
        axes[r, 0].set_ylabel(f"stage {r + 1}", fontsize=8)
        strongest = fmap[0].flatten(1).mean(1).argsort(descending=True)[:per]
        top = float(fmap[0, strongest].max()) or 1.0  # one scale per stage: tiles compare
        for c, ch in enumerate(strongest.tolist()):
            tile = axes[r, c + 1].imshow(
                fmap[0, ch].float().cpu().numpy(), cmap="magma", vmin=0, vmax=top
            )
            axes[r, c + 1].set_title(f"ch {ch}", fontsize=7)
        fig.colorbar(tile, ax=axes[r, -1], fraction=0.046, pad=0.02)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    views.append(
        View(
            "cnn-feature-maps",
            "Feature maps: how each stage sees this picture",
            (
                "Each row is one conv stage; the tiles are its most active channels for this "
                "input (bright = strong response, one scale per row). Early stages respond to "
                "edges and colours at full resolution, later stages to larger parts (ears, "
                "eyes) at coarser resolution."
            ),
            fig,
            {f"stage{i + 1}": m[0].float().cpu().numpy() for i, m in enumerate(maps)},
        )
    )

    labels = task.class_labels()
    if labels is None:  # an embedder (faces): no class to ask "where did it look" for
        return views

    def gradcam_of(model: Any) -> np.ndarray:
        cam = LayerGradCam(model, model.stages[-1]).attribute(x, target=target)
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return cam[0, 0].detach().clamp(min=0).numpy()

    def saliency_of(model: Any) -> np.ndarray:
        grad = Saliency(model).attribute(x.clone().requires_grad_(True), target=target)
        return grad[0].abs().amax(0).detach().numpy()

    cam, sal = gradcam_of(net), saliency_of(net)
    checks = randomisation_check(gradcam_of, run)
    if "similarity_to_random_nets" in checks:  # the same questions of the saliency map
        checks["saliency"] = {
            k: v for k, v in randomisation_check(saliency_of, run).items() if k != "model_skill"
        }
    label = labels[target]
    fig, axes = new_figure(7.5, 2.8, 1, 3)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(show, cmap="gray" if show.ndim == 2 else None)
    axes[0, 0].set_title(f"input (predicted: {label})", fontsize=8)
    axes[0, 1].imshow(show, cmap="gray" if show.ndim == 2 else None)
    heat = axes[0, 1].imshow(cam / (cam.max() + 1e-12), cmap="jet", alpha=0.45, vmin=0, vmax=1)
    fig.colorbar(heat, ax=axes[0, 1], fraction=0.046, pad=0.02, label="÷ its max")
    axes[0, 1].set_title("Grad-CAM", fontsize=8)
    heat = axes[0, 2].imshow(sal / (sal.max() + 1e-12), cmap="hot", vmin=0, vmax=1)
    fig.colorbar(heat, ax=axes[0, 2], fraction=0.046, pad=0.02, label="÷ its max")
    axes[0, 2].set_title("saliency", fontsize=8)
    views.append(
        View(
            "cnn-where-it-looked",
            f"Where the net looked to say '{label}'",
            (
                "Grad-CAM colours the regions whose last-stage features raised the predicted class "
                "(red = most). Saliency shows which single pixels would change the answer most if "
                "nudged. If the heat sits on ears and eyes rather than the background, the net "
                "learned the right thing. The checks re-run both maps on copies of the net with "
                "random weights and on a copy trained on shuffled answers: a trustworthy map "
                "changes (the first verdict is Grad-CAM's, the second the saliency's)."
            ),
            fig,
            {"gradcam": cam, "saliency": sal},
            checks,
        )
    )
    return views


@register_view("cnn", "model")
def top_patches(run: Any, encoded: Any) -> list[View]:
    """What deep channels recognise: for a few channels of the last two stages, the patches
    of the training images that excite each one most."""
    from glassnet.data.images import expand_inputs
    from glassnet.tasks.sources import resolve

    try:
        folder, _ = resolve(run.spec.data.data)
        listed = expand_inputs([str(folder)])
    except Exception:  # noqa: BLE001 - the training data may have moved: skip the view
        return []
    paths = listed.paths[:: max(len(listed.paths) // 300, 1)][:300]  # a spread-out sample
    batch = run.task.encode([str(p) for p in paths], with_targets=False).batch
    net = run.net.eval()
    x = run.task.net_inputs(net, batch)[0].contiguous()
    images = batch["x"].numpy().transpose(0, 2, 3, 1)  # (N, S, S, C)
    stages = list(net.stages)[-2:]
    maps: list[torch.Tensor] = []
    hooks = [
        s.register_forward_hook(lambda m, i, o: maps.append(o.detach().float())) for s in stages
    ]
    with torch.no_grad():
        for i in range(0, len(x), 64):
            net(x[i : i + 64])
    for h in hooks:
        h.remove()
    per_stage = [torch.cat(maps[k :: len(stages)]) for k in range(len(stages))]
    fields = receptive_fields(net, list(net.stages))[-len(stages) :]
    height, width = x.shape[-2:]
    rows, cols = [], 6
    for k, (fmap, field) in enumerate(zip(per_stage, fields, strict=True)):  # (N, C, h, w)
        peak = fmap.flatten(2).amax(-1)  # (N, C): each image once per channel
        for ch in _diverse_channels(peak, cols):
            tiles = []
            for n in peak[:, ch].argsort(descending=True)[:cols].tolist():
                fy, fx = divmod(int(fmap[n, ch].flatten().argmax()), fmap.shape[-1])
                tiles.append((n, _field_box(fy, fx, field, height, width)))
            rows.append((f"stage {len(net.stages) - len(stages) + k + 1}, ch {ch}", field, tiles))
    fig, axes = new_figure(1.2 * cols + 1.2, 1.25 * len(rows) + 0.4, len(rows), cols)
    axes = np.atleast_2d(axes)
    for r, (name, field, tiles) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(tiles):
                n, (y0, y1, x0, x1, cy, cx) = tiles[c]
                p = images[n, y0:y1, x0:x1]
                ax.imshow(
                    p[..., 0] if p.shape[-1] == 1 else p, cmap="gray" if p.shape[-1] == 1 else None
                )
                # where the peak cell sits: one step of the map, in the crop's pixels
                side = max(field.jump, 2.0)
                ax.add_patch(
                    Rectangle(
                        (cx - x0 - side / 2, cy - y0 - side / 2),
                        side,
                        side,
                        fill=False,
                        edgecolor="#ffd400",
                        lw=0.8,
                    )
                )
        axes[r, 0].set_ylabel(f"{name}\n{field.size:.0f} px field", fontsize=6)
    whole = [f"{name.split(',')[0]}" for name, field, _ in rows if field.size >= min(height, width)]
    note = (
        f" Cells of {', '.join(dict.fromkeys(whole))} see more than the whole picture, so "
        "their tiles are whole pictures; the box marks the peak cell."
        if whole
        else ""
    )
    return [
        View(
            "cnn-top-patches",
            "What deep channels recognise",
            (
                "Each row is one channel of a deep stage; the tiles are the training images that "
                "made it fire hardest (each image once), cropped to the part of the image the "
                "channel's strongest cell can see (its receptive field), with a yellow box on "
                "that cell. Channels are the most selective ones that fire on different images "
                "from each other. When a row shows the same part again and again (ears, eyes, a "
                "snout), that channel has become a detector for it." + note
            ),
            fig,
            {
                "channels": np.array([name for name, _, _ in rows]),
                "pictures": np.array([[n for n, _ in tiles] for _, _, tiles in rows]),
                "boxes": np.array([[box[:4] for _, box in tiles] for _, _, tiles in rows]),
                "field_size": np.array([field.size for _, field, _ in rows]),
            },
        )
    ]


def _diverse_channels(peak: torch.Tensor, best: int, want: int = 3) -> list[int]:
    """Channels that fire selectively (their peak varies most across images) and on other
    images than the channels already chosen (at most half of their top images shared), so
    three rows do not show the same pictures."""
    chosen: list[int] = []
    tops: list[set[int]] = []
    for ch in peak.std(0).argsort(descending=True).tolist():
        top = set(peak[:, ch].argsort(descending=True)[:best].tolist())
        if all(len(top & t) <= best // 2 for t in tops):
            chosen.append(ch)
            tops.append(top)
        if len(chosen) == want:
            break
    return chosen


def _field_box(
    fy: int, fx: int, field: Field, height: int, width: int
) -> tuple[int, int, int, int, float, float]:
    """The receptive field of map cell (fy, fx), clipped to the image: (y0, y1, x0, x1) and
    the cell's centre (cy, cx), in input pixels."""
    cy, cx = field.start + fy * field.jump, field.start + fx * field.jump
    half = field.size / 2
    y0, x0 = max(int(np.floor(cy - half + 0.5)), 0), max(int(np.floor(cx - half + 0.5)), 0)
    y1 = min(int(np.floor(cy + half + 0.5)), height)
    x1 = min(int(np.floor(cx + half + 0.5)), width)
    return y0, y1, x0, x1, cy, cx


def pair_gradcam(net: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Grad-CAM of the similarity of two embeddings: for each picture of the pair (x holds
    two), which places of its last-stage features raised cos(embedding a, embedding b).
    (2, H, W), not normalised."""
    acts: list[torch.Tensor] = []
    hook = net.stages[-1].register_forward_hook(lambda m, i, o: acts.append(o))
    try:
        emb = F.normalize(net(x).float(), dim=-1)
    finally:
        hook.remove()
    similarity = (emb[0] * emb[1]).sum()
    (grads,) = torch.autograd.grad(similarity, acts[0])
    cam = F.relu((grads.mean((2, 3), keepdim=True) * acts[0]).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return cam[:, 0].detach().float().cpu().numpy()


@register_view("cnn", "inputs")
def where_two_faces_matched(run: Any, encoded: Any) -> list[View]:
    """For an embedder (no classes: faces), the first two inputs as a pair."""
    task = run.task
    if task.class_labels() is not None or len(encoded.data) < 2:
        return []
    net = run.net.eval()
    pair = {k: v[:2] for k, v in encoded.batch.items()}
    x = task.net_inputs(net, pair)[0].contiguous()
    with torch.no_grad():
        emb = F.normalize(net(x).float(), dim=-1)
    similarity = float(emb[0] @ emb[1])
    threshold = run.metrics.get("val", {}).get("threshold")
    cams = pair_gradcam(net, x)
    names = list(encoded.names or ["a", "b"])[:2]
    verdict = ""
    if threshold is not None:
        same = similarity > threshold
        said = "same person" if same else "different people"
        verdict = f" {'>' if same else '<='} threshold {threshold:.2f}: {said}"
    fig, axes = new_figure(6.0, 3.2, 1, 2)
    for k, ax in enumerate(axes.ravel()):
        image = pair["x"][k].numpy().transpose(1, 2, 0)
        show = image[..., 0] if image.shape[-1] == 1 else image
        ax.imshow(show, cmap="gray" if show.ndim == 2 else None)
        ax.imshow(cams[k] / (cams.max() + 1e-12), cmap="jet", alpha=0.45)
        shown = Path(names[k])
        ax.set_title(f"{shown.parent.name}/{shown.name}"[-32:], fontsize=7)
        ax.axis("off")
    fig.suptitle(f"similarity {similarity:.2f}{verdict}", fontsize=8)
    checks = randomisation_check(
        lambda model: np.concatenate(list(pair_gradcam(model.eval(), x)), axis=1), run
    )
    return [
        View(
            "face-pair-gradcam",
            "Which parts of the two faces made them alike",
            (
                "The net turns each face into a direction (an embedding); two faces match when "
                "their directions are close. Red marks the places whose features raised the "
                "similarity of this pair most, on both pictures, with the same colour scale: "
                "matching eyes, nose or hairline should light up, not the background. The "
                "check redraws the maps with random weights: trustworthy maps change."
            ),
            fig,
            {"pair_gradcam": cams, "similarity": np.array(similarity)},
            {**checks, "similarity": round(similarity, 4)},
        )
    ]


@register_view("cnn", "inputs")
def embedding_map(run: Any, encoded: Any) -> list[View]:
    """For an embedder (faces), the given pictures as points of its embedding space in 2-D,
    coloured by the folder each came from (a person, when a people folder is given)."""
    if run.task.class_labels() is not None or len(encoded.data) < 3:
        return []
    from sklearn.decomposition import PCA

    net = run.net.eval()
    x = run.task.net_inputs(net, encoded.batch)[0]
    with torch.no_grad():
        emb = F.normalize(net(x).float(), dim=-1).cpu().numpy()
    points = PCA(n_components=2).fit_transform(emb)
    folders = [Path(n).parent.name for n in (encoded.names or [""] * len(emb))]
    names = sorted(set(folders))
    fig, ax = new_figure(5.2, 4.4)
    for k, name in enumerate(names):
        rows = [i for i, f in enumerate(folders) if f == name]
        ax.scatter(
            points[rows, 0],
            points[rows, 1],
            s=18,
            color=category_colour(k, len(names)),
            label=name or "(no folder)",
        )
    if len(names) <= 12:
        ax.legend(fontsize=6, loc="best", frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{len(emb)} pictures in the embedding space (2-D)", fontsize=8)
    return [
        View(
            "face-embedding-map",
            "Where the net puts each face",
            (
                "Each dot is one picture, placed by the net's embedding squeezed to two "
                "dimensions (PCA), coloured by the folder it came from. Pictures of one person "
                "should gather, different people apart; a person spread across the map is one "
                "the net does not yet tell apart. Two dimensions lose detail: close dots may "
                "still be far apart in the full embedding."
            ),
            fig,
            {"points": points, "embeddings": emb},
        )
    ]


@register_view("cnn", "input")
def nearest_in_gallery(run: Any, encoded: Any) -> list[View]:
    """For an embedder with a gallery (`glassnet faces enrol`), the people closest to this
    picture, against the run's threshold."""
    from glassnet.data.gallery import GALLERY, read_gallery

    found = read_gallery(run.path / GALLERY) if run.task.class_labels() is None else None
    if found is None:
        return []
    people, means = found
    net = run.net.eval()
    x = run.task.net_inputs(net, {k: v[:1] for k, v in encoded.batch.items()})[0]
    with torch.no_grad():
        emb = F.normalize(net(x).float(), dim=-1)[0].cpu().numpy()
    sims = means @ emb
    order = np.argsort(-sims)[:8]
    threshold = run.metrics.get("val", {}).get("threshold")
    fig, axes = new_figure(7.0, 2.8, 1, 2)
    image = encoded.batch["x"][0].numpy().transpose(1, 2, 0)
    show = image[..., 0] if image.shape[-1] == 1 else image
    axes[0, 0].imshow(show, cmap="gray" if show.ndim == 2 else None)
    axes[0, 0].axis("off")
    axes[0, 0].set_title("this face (as the net sees it)", fontsize=7)
    ax = axes[0, 1]
    ax.barh(range(len(order))[::-1], sims[order], color="#4477aa")
    ax.set_yticks(range(len(order))[::-1], [people[k] for k in order], fontsize=7)
    ax.set_xlim(min(0.0, float(sims[order].min())), 1)
    ax.set_xlabel("similarity to each person's enrolled mean", fontsize=7)
    if threshold is not None:
        ax.axvline(threshold, color="#cc3311", ls="--", lw=1)
        ax.text(threshold, len(order) - 0.4, " threshold", color="#cc3311", fontsize=7)
    best = people[order[0]]
    said = best if threshold is None or sims[order[0]] > threshold else "unknown (nobody clears it)"
    ax.set_title(f"closest in the gallery: {said}", fontsize=8)
    return [
        View(
            "face-nearest-in-gallery",
            "Who in the gallery this face is closest to",
            (
                "Each bar is one enrolled person: how close this face's embedding is to the "
                "mean of that person's enrolled pictures (1 = the same direction). Right of "
                "the dashed threshold counts as a match; several people near the threshold "
                "mean the net finds them alike, and a clear gap to the second bar is a "
                "confident answer."
            ),
            fig,
            {"similarities": sims, "people": np.array(people)},
            {"closest": best, "similarity": round(float(sims[order[0]]), 4)},
        )
    ]
