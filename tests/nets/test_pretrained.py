"""Pretrained weights are read from local files and checked against the hash torchvision
publishes (torch checks only what it downloads itself, never a file already on disk)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models import ResNet18_Weights, resnet18

from glassnet.nets.pretrained import (
    PretrainedWeightsUnavailable,
    expected_digest,
    pretrained_state,
    sha256_of,
)


def _saved(path: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    state = resnet18().state_dict()
    torch.save(state, path)
    return state


def test_the_recorded_hash_comes_from_torchvision() -> None:
    assert expected_digest(ResNet18_Weights.IMAGENET1K_V1) == "f37072fd"


def test_a_hub_named_file_must_match_its_hash(tmp_path: Path) -> None:
    wrong = tmp_path / "resnet18-f37072fd.pth"  # torchvision's name, other content
    _saved(wrong)
    with pytest.raises(PretrainedWeightsUnavailable, match="SHA-256 starts") as failed:
        pretrained_state(ResNet18_Weights.DEFAULT, str(wrong))
    assert str(wrong) in str(failed.value) and "f37072fd" in str(failed.value)
    good = tmp_path / "mine.pth"
    state = _saved(good)
    named = tmp_path / f"mine-{sha256_of(good)[:8]}.pth"  # the torch-hub convention, honest
    good.rename(named)
    loaded = pretrained_state(ResNet18_Weights.DEFAULT, str(named))
    torch.testing.assert_close(loaded["fc.weight"], state["fc.weight"])


def test_a_cached_download_is_checked_before_use(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a download")
    with pytest.raises(PretrainedWeightsUnavailable, match="cut short"):
        pretrained_state(ResNet18_Weights.DEFAULT, None)


def test_own_checkpoints_are_read_as_they_are(tmp_path: Path) -> None:
    state = _saved(tmp_path / "finetuned.pth")
    loaded = pretrained_state(ResNet18_Weights.DEFAULT, str(tmp_path / "finetuned.pth"))
    torch.testing.assert_close(loaded["conv1.weight"], state["conv1.weight"])
    with pytest.raises(PretrainedWeightsUnavailable, match="does not exist"):
        pretrained_state(ResNet18_Weights.DEFAULT, str(tmp_path / "gone.pth"))


def test_coco_fcos_weights_are_checked(tmp_path: Path) -> None:
    from glassnet.nets import create_net

    fake = tmp_path / "fcos_resnet50_fpn_coco-99b0c9b7.pth"  # torchvision's name
    fake.write_bytes(b"not the weights")
    with pytest.raises(PretrainedWeightsUnavailable, match="99b0c9b7"):
        create_net("det.fcos", in_channels=3, num_classes=4, backbone="resnet50", weights=str(fake))
    with pytest.raises(ValueError, match="backbone=resnet50"):
        create_net("det.fcos", in_channels=3, num_classes=4, pretrained=True)


@pytest.mark.slow  # writes and reads a full FCOS ResNet-50 (130 MB)
def test_coco_fcos_weights_load_with_a_new_class_layer(tmp_path: Path) -> None:
    from torchvision.models.detection import fcos_resnet50_fpn

    from glassnet.nets import create_net

    torch.manual_seed(0)
    coco = fcos_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91).state_dict()
    plain = tmp_path / "coco.pth"
    torch.save(coco, plain)
    named = tmp_path / f"coco-{sha256_of(plain)[:8]}.pth"
    plain.rename(named)
    net = create_net(
        "det.fcos", in_channels=3, num_classes=4, backbone="resnet50", weights=str(named)
    )
    ours = net.fcos.state_dict()
    torch.testing.assert_close(
        ours["backbone.body.conv1.weight"], coco["backbone.body.conv1.weight"]
    )
    assert ours["head.classification_head.cls_logits.weight"].shape[0] == 4
    raw = net.eval()(torch.rand(1, 3, 128, 128))
    boxes, scores, classes = net.detect(raw, top_k=10)
    assert boxes.shape == (1, 10, 4) and int(classes.max()) < 4
