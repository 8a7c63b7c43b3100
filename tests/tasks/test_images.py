"""Images: accuracy on built-in sets, the data check's errors, predict/evaluate outputs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import glassnet
from glassnet.data.augment import BatchAugment
from glassnet.data.builtin import get_dataset
from glassnet.errors import DataError


def _folder(root: Path, classes: dict[str, int], size: int = 20, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(0)
    for label, n in classes.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = (size, size, 3) if mode == "RGB" else (size, size)
            arr = rng.integers(0, 255, shape, dtype=np.uint8)
            Image.fromarray(arr, mode).save(root / label / f"{i}.png")
    return root


def test_cartoon_pets_accuracy(workdir: Path) -> None:
    get_dataset("cartoon-pets").make(Path("pets"), n=2000, size=64)
    run = glassnet.train("images", "pets", epochs=8, widths=(16, 32, 64), quiet=True)
    assert run.metrics["test"]["accuracy"] >= 0.95, run.metrics
    assert run.task.state()["augment"] is True and run.task.state()["mode"] == "RGB"


def test_digits_accuracy_and_reload(workdir: Path) -> None:
    from glassnet.engine.device import cpu_has_native_bf16

    run = glassnet.train("images", "builtin:digits", epochs=15, quiet=True, out="r")
    assert run.metrics["test"]["accuracy"] >= 0.97, run.metrics
    # CNN steps in bf16 where the CPU has it natively; the run says which
    assert run.metrics["train_precision"] == ("bf16" if cpu_has_native_bf16() else "fp32")
    state = run.task.state()
    assert state["mode"] == "L" and state["image_size"] == 8 and state["augment"] is False
    assert run.metrics["test"]["top5_accuracy"] >= run.metrics["test"]["accuracy"]
    files = sorted(Path(glassnet.tasks.sources.cache_dir(), "digits").rglob("*.png"))[:20]
    first = run.predict([str(f) for f in files])
    again = glassnet.load("r").predict([str(f) for f in files])
    assert list(first["source"]) == [str(f) for f in files]
    np.testing.assert_array_equal(
        first.filter(like="probability").to_numpy(), again.filter(like="probability").to_numpy()
    )


def test_evaluate_writes_confusion_matrix_and_mistakes(workdir: Path) -> None:
    run = glassnet.train("images", "builtin:faces-vs-background", epochs=2, quiet=True, out="r")
    result = run.evaluate("builtin:faces-vs-background", report=True)
    assert result["n"] == 200
    report = result["report"]
    assert set(report["per_class"]) == {"background", "face"}
    png = Path(report["confusion_matrix"])
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if "worst_mistakes" in report:
        assert Path(report["worst_mistakes"]).is_file()


def test_predict_takes_files_folders_and_globs(workdir: Path) -> None:
    _folder(Path("data"), {"a": 6, "b": 6})
    run = glassnet.train(
        "images", "data", epochs=1, quiet=True, out="r", val_fraction=0.2, test_fraction=0.2
    )
    assert len(run.predict("data/a")) == 6
    assert len(run.predict(["data/a/0.png", "data/b/*.png"])) == 7
    res = subprocess.run(
        [sys.executable, "-m", "glassnet", "predict", "r", "data/a/1.png", "data/b", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    preds = json.loads(res.stdout)["predictions"]
    assert len(preds) == 7 and {"source", "label", "probability_a"} <= set(preds[0])


def test_corrupt_and_fake_images_are_listed_by_name(workdir: Path) -> None:
    _folder(Path("data"), {"a": 6, "b": 6})
    good = Path("data/a/0.png").read_bytes()
    Path("data/a/fake.png").write_text("this is not an image")
    jpeg = Path("data/b/cut.jpg")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(jpeg)
    jpeg.write_bytes(jpeg.read_bytes()[:200])  # truncated JPEG
    with pytest.raises(DataError) as err:
        glassnet.train("images", "data", epochs=1, quiet=True)
    text = str(err.value)
    assert "2 file(s)" in text and "fake.png" in text and "cut.jpg" in text
    assert "--skip-bad" in text
    run = glassnet.train("images", "data", epochs=1, quiet=True, skip_bad=True, out="r")
    assert run.path.is_dir() and good


def test_empty_class_folder_and_one_class(workdir: Path) -> None:
    _folder(Path("data"), {"a": 4, "b": 4})
    Path("data/c").mkdir()
    with pytest.raises(DataError, match="class folder 'data/c' has no images"):
        glassnet.train("images", "data", quiet=True)
    _folder(Path("one"), {"only": 5})
    with pytest.raises(DataError, match="single class"):
        glassnet.train("images", "one", quiet=True)
    with pytest.raises(DataError, match="has no class sub-folders"):
        Path("flat").mkdir()
        glassnet.train("images", "flat", quiet=True)


def test_mixed_modes_tiny_images_and_imbalance_are_reported(workdir: Path) -> None:
    _folder(Path("data"), {"a": 30, "b": 2}, size=10)
    Image.fromarray(np.zeros((10, 10, 4), np.uint8), "RGBA").save("data/a/rgba.png")
    Image.fromarray(np.full((10, 10), 40000, np.uint16)).save("data/b/deep.png")  # 16-bit
    task_notes = glassnet.train(
        "images", "data", epochs=1, quiet=True, out="r", val_fraction=0.0, test_fraction=0.0
    )
    state = task_notes.task.state()
    assert state["mode"] == "RGB" and state["class_weights"] is not None
    from glassnet.tasks.images import ImagesDataSpec, ImagesTask

    notes = ImagesTask(ImagesDataSpec(data="data", val_fraction=0, test_fraction=0)).load_data()
    text = " ".join(notes.notes)
    assert "mixed image modes" in text and "smaller than 16 px" in text
    assert "very few images: b (3)" in text and "imbalanced" in text


def test_batch_augment_keeps_shape_and_range_and_flips() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) % 255
    aug = BatchAugment(color=False, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=1.0)
    out = aug(x.to(torch.uint8))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(out, (x / 255).flip(-1), atol=1e-5, rtol=0)


def test_grey_soften_and_erase_do_what_they_say() -> None:
    torch.manual_seed(0)
    x = torch.rand(64, 3, 16, 16)
    still = {"scale": (1.0, 1.0), "ratio": (1.0, 1.0), "flip": 0.0}
    grey = BatchAugment(color=False, gray=1.0, **still)(x)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    soft = BatchAugment(color=False, blur=1.0, **still)(x)
    assert soft.std() < 0.8 * x.std()  # noise is smoothed
    assert torch.allclose(soft.mean(), x.mean(), atol=0.01)  # brightness is not
    erased = BatchAugment(color=False, erase=0.5, **still)(x)
    changed = ((erased - x).abs() > 1e-3).flatten(1).float().mean(1)  # share blotted per image
    hit = changed > 0
    assert 0.25 < hit.float().mean() < 0.75  # about half the images
    assert ((changed[hit] > 0.03) & (changed[hit] < 0.26)).all()  # a 1/5..1/2-side patch
    untouched = BatchAugment(color=False, **still)(x)
    torch.testing.assert_close(untouched, x)


def test_pretrained_without_network_fails_clearly(workdir: Path, monkeypatch) -> None:  # noqa: ANN001
    import torchvision.models as models

    def no_network(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError("no network")

    monkeypatch.setattr(models.ResNet18_Weights.DEFAULT, "get_state_dict", no_network)
    _folder(Path("data"), {"a": 4, "b": 4})
    with pytest.raises(glassnet.GlassnetError, match="--weights FILE"):
        glassnet.train("images", "data", net="cnn.resnet18", pretrained=True, quiet=True)


def test_local_weights_file_is_loaded(workdir: Path) -> None:
    from safetensors.torch import save_file
    from torchvision.models import resnet18

    torch.manual_seed(1)
    reference = resnet18()
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, "r18.safetensors")
    _folder(Path("data"), {"a": 4, "b": 4}, size=32)
    run = glassnet.train(
        "images",
        "data",
        net="cnn.resnet18",
        weights="r18.safetensors",
        epochs=1,
        lr=1e-12,
        quiet=True,
        val_fraction=0,
        test_fraction=0,
    )
    torch.testing.assert_close(
        run.net.stages[0][0].conv1.weight, reference.layer1[0].conv1.weight, atol=1e-6, rtol=0
    )


def test_decompression_bomb_limit_stays_on(workdir: Path, monkeypatch) -> None:  # noqa: ANN001
    _folder(Path("data"), {"a": 4, "b": 4}, size=40)
    # Pillow refuses images over twice its pixel limit; lower the limit instead of writing
    # a gigapixel file.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DataError, match="decompression bomb"):
        glassnet.train("images", "data", quiet=True)


def test_cli_evaluate_prints_per_class_and_writes_pngs(workdir: Path) -> None:
    _folder(Path("data"), {"a": 8, "b": 8})
    assert glassnet.train("images", "data", epochs=1, quiet=True, out="r").path.is_dir()
    res = subprocess.run(
        [sys.executable, "-m", "glassnet", "evaluate", "r", "data"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert (
        "precision" in res.stdout
        and "confusion matrix: r/report/confusion_matrix.png" in res.stdout
    )
    assert Path("r/report/confusion_matrix.png").is_file()


def test_csv_of_paths_and_labels(workdir: Path) -> None:
    _folder(Path("imgs"), {"a": 5, "b": 5})
    rows = [f"imgs/{lab}/{i}.png,{lab}" for lab in "ab" for i in range(5)]
    Path("list.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    run = glassnet.train(
        "images", "list.csv", epochs=1, quiet=True, val_fraction=0.2, test_fraction=0.2
    )
    assert run.task.labels == ["a", "b"]
    Path("bad.csv").write_text("path,label\nimgs/a/missing.png,a\nimgs/b/0.png,b\n")
    with pytest.raises(DataError, match="do not exist, e.g. .*missing.png"):
        glassnet.train("images", "bad.csv", quiet=True)


def test_large_jpegs_are_scaled_by_the_decoder_and_look_the_same(tmp_path: Path) -> None:
    """A photo far larger than the image size is reduced while decoding (draft mode):
    same shape, and within a few grey levels of decoding it whole and resizing."""
    from glassnet.data.images import load_image

    y, x = np.mgrid[0:375, 0:500]
    photo = np.stack([(np.sin(x / 30) + 1) * 120, (np.cos(y / 20) + 1) * 120, (x + y) % 255], -1)
    path = tmp_path / "photo.jpg"
    Image.fromarray(photo.astype(np.uint8)).save(path, quality=92)

    with Image.open(path) as im:  # the full decode, resized as load_image does
        full = im.convert("RGB").resize((85, 64), Image.Resampling.BILINEAR).crop((10, 0, 74, 64))
    reference = np.asarray(full).transpose(2, 0, 1).astype(int)
    got = load_image(path, 64, "RGB")
    assert got.shape == (3, 64, 64)
    assert np.abs(got.astype(int) - reference).mean() < 4
    with Image.open(path) as im:  # and the decoder was indeed asked for less
        im.draft("RGB", (64, 64))
        assert im.size[0] < 500


def test_files_are_read_whatever_their_name_says(tmp_path: Path) -> None:
    """The decoder is guessed from the file name (faster), but a JPEG named .png, or a
    grey PNG already at the size, reads as its pixels say."""
    from glassnet.data.images import load_image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:32, 0:32]
    colour = np.stack([x * 8, y * 8, (x + y) * 4], -1).astype(np.uint8)  # smooth: JPEG keeps it
    Image.fromarray(colour).save(tmp_path / "liar.png", format="JPEG", quality=95)
    got = load_image(tmp_path / "liar.png", 32, "RGB")
    assert got.shape == (3, 32, 32)
    assert np.abs(got.astype(int) - colour.transpose(2, 0, 1)).mean() < 4

    grey = rng.integers(0, 255, (32, 32), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    assert np.array_equal(load_image(tmp_path / "grey.png", 32, "L")[0], grey)
    assert np.array_equal(load_image(tmp_path / "grey.png", 32, "RGB")[1], grey)


def test_pngs_decoded_by_opencv_equal_pillows_pixels(tmp_path: Path, monkeypatch) -> None:
    """Opaque 8-bit PNGs in RGB are decoded by OpenCV (faster, GIL released): every variant
    gives exactly the pixels of Pillow's own path, and the ones it must not take (alpha,
    transparency, 16-bit, too few bits, damaged) are left to Pillow."""
    from PIL.PngImagePlugin import PngInfo

    import glassnet.data.images as images

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    with_gamma = PngInfo()
    with_gamma.add(b"gAMA", (45455).to_bytes(4, "big"))  # 1/2.2: must not be applied
    variants = {
        "rgb": (Image.fromarray(rgb), {}, True),
        "rgb_gamma": (Image.fromarray(rgb), {"pnginfo": with_gamma}, True),
        "rgb_interlaced": (Image.fromarray(rgb), {"interlace": 1}, True),
        "grey": (Image.fromarray(rgb[..., 0]), {}, True),
        "palette": (Image.fromarray(rgb).quantize(200), {}, True),
        "palette_4bit": (Image.fromarray(rgb).quantize(16), {"bits": 4}, False),
        "palette_transparent": (Image.fromarray(rgb).quantize(200), {"transparency": 3}, False),
        "rgba": (Image.fromarray(np.dstack([rgb, rgb[..., :1]])), {}, False),
        "grey_alpha": (Image.fromarray(np.dstack([rgb[..., :1]] * 2)), {}, False),
        "grey16": (Image.fromarray(rgb[..., 0].astype(np.uint16) * 250), {}, False),
        "bilevel": (Image.fromarray(rgb[..., 0] > 128), {}, False),
    }
    calls: list[bool] = []
    fast = images._opaque_png
    monkeypatch.setattr(
        images, "_opaque_png", lambda p: calls.append(fast(p) is not None) or fast(p)
    )
    for name, (im, options, takes_fast_path) in variants.items():
        path = tmp_path / f"{name}.png"
        im.save(path, **options)
        for size in (40, 24, 64):  # at the size (no resize), smaller and larger
            calls.clear()
            got = images.load_image(path, size, "RGB")
            with monkeypatch.context() as m:
                m.setattr(images, "_opaque_png", lambda p: None)
                expected = images.load_image(path, size, "RGB")
            assert calls == [takes_fast_path], name
            assert got.shape == expected.shape == (3, size, size), name
            assert np.array_equal(got, expected), name
            calls.clear()  # the same bytes uploaded to the service
            uploaded = images.decode_image(path.read_bytes(), size, "RGB")
            assert calls == [takes_fast_path], name
            assert np.array_equal(uploaded, expected), name
    cut = (tmp_path / "rgb.png").read_bytes()[:300]
    (tmp_path / "cut.png").write_bytes(cut)
    assert fast(tmp_path / "cut.png") is None  # damaged: Pillow says what is wrong
    assert fast(io.BytesIO(cut)) is None
    with pytest.raises(OSError):
        images.load_image(tmp_path / "cut.png", 40, "RGB")
    with pytest.raises(images.UnreadableImage, match="corrupt or truncated"):
        images.decode_image(cut, 40, "RGB")
    assert fast(io.BytesIO(b"GIF89a" + bytes(40))) is None  # not a PNG at all


def test_a_small_folder_gets_enough_steps_to_learn(workdir: Path) -> None:
    """300 pictures make 4 steps an epoch: 10 epochs left such a folder at 0.58-0.71 test
    accuracy. Without --epochs, the run takes at least ~300 steps (up to 60 epochs, early
    stopping still on) and says so; a big folder keeps the default, --epochs wins."""
    from glassnet.tasks.images import ImagesTask
    from tests.engine.test_resume import StopAt

    task = ImagesTask.__new__(ImagesTask)
    assert task.sized_train_defaults(216, 64) == {"epochs": 60}
    assert task.sized_train_defaults(1600, 64) == {"epochs": 12}
    assert task.sized_train_defaults(1600, 16) == {}
    assert task.sized_train_defaults(5000, 64) == {}
    _folder(Path("small"), {"a": 30, "b": 30}, size=24)
    run = glassnet.train("images", "small", quiet=True, out="r", callbacks=[StopAt(2)])
    assert run.spec.train.epochs == 60
    assert "43 training samples, so epochs 60" in (run.path / "run.yaml").read_text()
    chosen = glassnet.train("images", "small", epochs=1, quiet=True, out="chosen")
    assert chosen.spec.train.epochs == 1


@pytest.mark.slow
def test_a_small_folder_is_learned_with_the_defaults(workdir: Path) -> None:
    get_dataset("cartoon-pets").make(Path("pets"), n=300, size=64)
    run = glassnet.train("images", "pets", quiet=True, out="small")
    assert run.metrics["test"]["accuracy"] >= 0.9, run.metrics["test"]
