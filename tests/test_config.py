from __future__ import annotations

import re
from pathlib import Path

import pytest

import glassnet  # noqa: F401  (registers tasks)
from glassnet.config import build_spec, load_yaml, route_options
from glassnet.errors import ConfigError


def test_flat_options_route_to_their_sections() -> None:
    spec = build_spec(
        "tabular",
        {
            "data": "x.csv",
            "target": "y",
            "epochs": 3,
            "hidden": [16, 8],
            "seed": 7,
            "net": "mlp.large",
        },
    )
    assert spec.data.target == "y" and spec.train.epochs == 3 and spec.seed == 7
    assert spec.net.name == "mlp.large" and spec.net.options["hidden"] == (16, 8)
    # Defaults of the chosen net are filled in and stored.
    assert spec.net.options["dropout"] == 0.2


def test_unknown_option_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="unknown option 'epoch'.*Did you mean 'epochs'"):
        route_options("tabular", {"epoch": 3})


def test_unknown_config_key_says_did_you_mean(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("train:\n  batchsize: 32\nnet:\n  hiden: [4]\n")
    with pytest.raises(ConfigError) as err:
        build_spec("tabular", {}, cfg)
    text = str(err.value)
    assert "unknown key 'train.batchsize'" in text and "Did you mean 'batch_size'" in text
    assert "unknown key 'net.hiden'" in text and "Did you mean 'hidden'" in text
    assert str(cfg) in text


def test_bad_value_names_field_value_and_what_it_accepts() -> None:
    with pytest.raises(ConfigError) as err:
        build_spec("tabular", {"optimizer": "adam", "lr": -1, "activation": "relux"})
    text = str(err.value)
    assert "'train.optimizer' got 'adam'" in text and "'adamw' or 'sgd'" in text
    assert "'train.lr' got -1" in text and "greater than 0" in text
    assert "'net.activation' got 'relux'" in text


def test_unknown_net_and_task() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'mlp.small'"):
        build_spec("tabular", {"net": "mlp.smal"})
    with pytest.raises(ConfigError, match="unknown task 'tabluar'.*Did you mean 'tabular'"):
        build_spec("tabluar", {})


def test_config_file_plus_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "data: {data: a.csv, target: y}\nnet: {name: mlp.small, hidden: [8]}\n"
        "train: {epochs: 4, lr: 0.01}\n"
    )
    spec = build_spec("tabular", {"epochs": 9}, cfg)
    assert spec.train.epochs == 9 and spec.train.lr == 0.01 and spec.net.options["hidden"] == (8,)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  epochs: [1\n")
    with pytest.raises(ConfigError, match=r"not valid YAML.*bad.yaml, line \d"):
        load_yaml(cfg)
    cfg.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_yaml(cfg)


def test_spec_round_trips_through_yaml(tmp_path: Path) -> None:
    from glassnet.config import dump_yaml, validate_spec

    spec = build_spec("tabular", {"data": "a.csv", "target": "t", "hidden": [5, 3]})
    again = validate_spec(__import__("yaml").safe_load(dump_yaml(spec.to_dict())))
    assert again == spec


@pytest.mark.parametrize(
    "options,message",
    [
        ({"dropout": 2.0}, "'net.dropout' got 2.0: Input should be less than 1"),
        ({"hidden": [0]}, "'net.hidden.0' got 0: Input should be greater than 0"),
        ({"net": "rnn.gru", "layers": 0}, "'net.layers' got 0"),
    ],
)
def test_net_option_ranges_are_checked_before_any_data(options: dict, message: str) -> None:
    """Out-of-range net options are refused by the spec (they used to end in a traceback or
    in a silent chance-level model)."""
    if options.get("net", "").startswith("rnn"):
        task, data = "forecasting", {"time": "t"}
    else:
        task, data = "tabular", {}
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_spec(task, {"data": "nowhere.csv", "target": "y", **data, **options})
