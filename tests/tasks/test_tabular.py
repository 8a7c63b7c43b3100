"""Accuracy on held-out rows of built-in tables, and the tabular task's input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glassnet
from glassnet.errors import ConfigError, DataError
from tests.conftest import mixed_frame


@pytest.mark.parametrize(
    "name,metric,threshold,options",
    [
        ("breast-cancer", "accuracy", 0.95, {}),
        ("wine", "accuracy", 0.95, {}),
        # 442 rows: a small net without dropout, more weight decay, a gentler learning rate.
        ("diabetes", "r2", 0.40, dict(hidden=(64, 32), dropout=0.0, weight_decay=0.1, lr=1e-3)),
    ],
)
def test_held_out_quality_on_builtin_tables(
    name: str, metric: str, threshold: float, options: dict, workdir: Path
) -> None:
    # Small tables give noisy test scores (one split of diabetes caps even ridge regression
    # at R2 0.23), so: 30% held out, averaged over three seeded splits.
    scores = [
        glassnet.train(
            "tabular",
            f"builtin:{name}",
            epochs=40,
            quiet=True,
            seed=seed,
            test_fraction=0.3,
            **options,
        ).metrics["test"][metric]
        for seed in range(3)
    ]
    assert sum(scores) / 3 >= threshold, scores


def test_dataframe_in_mixed_types_and_gaps(workdir: Path) -> None:
    frame = mixed_frame(600)
    run = glassnet.train("tabular", frame, target="label", epochs=30, quiet=True, onehot_max=5)
    assert run.metrics["test"]["accuracy"] >= 0.8
    preds = run.predict(frame.drop(columns=["label"]).head(5))
    assert list(preds.columns) == ["label", "probability_high", "probability_low"]
    rows = frame.drop(columns=["label"]).head(2).to_dict(orient="records")
    rows[0]["color"] = "never-seen"
    assert len(run.predict(rows)) == 2 and any("never-seen" in n for n in run.notes)


def test_predict_keeps_the_index_and_the_columns_it_did_not_read(workdir: Path) -> None:
    frame = mixed_frame(300)
    frame.insert(0, "customer_id", [f"c{i:04d}" for i in range(len(frame))])
    run = glassnet.train("tabular", frame, target="label", epochs=2, quiet=True)
    new = frame.drop(columns="label").iloc[10:15].assign(note="call back")
    new.index = ["a", "b", "c", "d", "e"]
    preds = run.predict(new)
    assert list(preds.index) == ["a", "b", "c", "d", "e"]  # joins back onto the input
    assert list(preds.columns[:2]) == ["customer_id", "note"]  # not read: handed back
    assert list(preds["customer_id"]) == list(new["customer_id"])
    assert "label" in preds.columns and "x1" not in preds.columns


def test_explicit_val_and_test_files(workdir: Path) -> None:
    frame = mixed_frame(400)
    frame.iloc[:300].to_csv("train.csv", index=False)
    frame.iloc[300:350].to_csv("val.csv", index=False)
    frame.iloc[350:].to_csv("test.csv", index=False)
    run = glassnet.train(
        "tabular", "train.csv", target="label", val="val.csv", test="test.csv", epochs=3, quiet=True
    )
    assert run.evaluate("test.csv")["n"] == 50
    assert run.metrics["test"]["accuracy"] == pytest.approx(run.evaluate("test.csv")["accuracy"])


def test_regression_inferred_and_overridable(workdir: Path) -> None:
    frame = pd.DataFrame({"a": range(60), "y": [i % 3 for i in range(60)]})
    run = glassnet.train("tabular", frame, target="y", epochs=1, quiet=True)
    assert run.task.encoder.kind == "classification"
    run = glassnet.train("tabular", frame, target="y", kind="regression", epochs=1, quiet=True)
    assert list(run.predict(frame.head(2)).columns) == ["y"]  # the answer is named after y


@pytest.mark.parametrize(
    "setup,error,message",
    [
        (lambda: None, DataError, "data file 'missing.csv' does not exist"),
        (lambda: Path("missing.csv").write_text(""), DataError, "is empty"),
        (lambda: Path("missing.csv").write_text("a,b\n"), DataError, "no rows"),
        (
            lambda: mixed_frame().to_csv("missing.csv", index=False),
            DataError,
            "target column 'labl' is not in 'missing.csv'. Did you mean 'label'",
        ),
    ],
)
def test_input_errors(setup, error, message: str, workdir: Path) -> None:  # noqa: ANN001
    setup()
    with pytest.raises(error, match=message):
        glassnet.train("tabular", "missing.csv", target="labl", quiet=True)


def test_no_target_lists_columns(workdir: Path) -> None:
    mixed_frame().to_csv("d.csv", index=False)
    with pytest.raises(ConfigError, match="no target column.*x1, x2, color"):
        glassnet.train("tabular", "d.csv", quiet=True)


def test_one_class_training_split_is_explained(workdir: Path) -> None:
    # One 'yes' in 20 rows cannot be stratified; on some seeds it lands in the test split.
    pd.DataFrame({"a": range(20), "y": ["no"] * 19 + ["yes"]}).to_csv("d.csv", index=False)
    messages = []
    for seed in range(10):
        try:
            glassnet.train(
                "tabular", "d.csv", target="y", test_fraction=0.3, quiet=True, seed=seed, epochs=1
            )
        except DataError as e:
            messages.append(str(e))
    assert messages and all(
        "training split of 'd.csv'" in m and "single value" in m for m in messages
    )


def test_evaluate_and_predict_errors(workdir: Path) -> None:
    mixed_frame().to_csv("d.csv", index=False)
    run = glassnet.train("tabular", "d.csv", target="label", epochs=1, quiet=True, out="r")
    mixed_frame().drop(columns=["label"]).to_csv("nolabel.csv", index=False)
    with pytest.raises(DataError, match="no 'label' column to evaluate against"):
        run.evaluate("nolabel.csv")
    mixed_frame().drop(columns=["city"]).to_csv("nocity.csv", index=False)
    with pytest.raises(DataError, match="lacks the column"):
        run.predict("nocity.csv")
    with pytest.raises(glassnet.GlassnetError, match="is not a glassnet run"):
        glassnet.load(".")


def test_parquet_input(workdir: Path) -> None:
    mixed_frame(200).to_parquet("d.parquet")
    run = glassnet.train("tabular", "d.parquet", target="label", epochs=2, quiet=True)
    assert len(run.predict("d.parquet")) == 200


def test_infinite_and_huge_values_are_named_when_training(workdir: Path) -> None:
    frame = mixed_frame(200)
    frame["y"] = frame["x1"] * 2.0
    frame.loc[[5, 9], "y"] = np.inf
    frame.drop(columns="label").to_csv("inf.csv", index=False)
    with pytest.raises(glassnet.GlassnetError, match=r"target 'y' is infinite in row\(s\) 6, 10"):
        glassnet.train("tabular", "inf.csv", target="y", epochs=1, quiet=True)
    frame = mixed_frame(200)
    frame.loc[3, "x1"] = 1e308
    frame.to_csv("huge.csv", index=False)
    with pytest.raises(glassnet.GlassnetError, match=r"'x1' holds 1 value\(s\) too large .* row 4"):
        glassnet.train("tabular", "huge.csv", target="label", epochs=1, quiet=True)
    frame.loc[3, "x1"] = np.inf
    frame.to_csv("inf_feature.csv", index=False)
    run = glassnet.train(
        "tabular", "inf_feature.csv", target="label", epochs=1, quiet=True, out="r"
    )
    state = (run.path / "preprocess.json").read_text()
    assert "Infinity" not in state and "NaN" not in state


def test_whole_number_targets_and_tiny_tables_are_said(workdir: Path) -> None:
    """'auto' taking body weights as classes is said at once, and when a weight in the
    validation rows was never seen the error points at --kind regression; class codes
    0..k-1 pass quietly; a table under 50 rows gets a warning."""
    rng = np.random.default_rng(0)
    weights = pd.DataFrame({"a": rng.normal(size=30), "w": rng.integers(150, 170, 30)})
    with pytest.raises(glassnet.errors.DataError, match="pass --kind regression"):
        glassnet.train("tabular", weights, target="w", epochs=1, quiet=True, out="w")
    from glassnet.tasks.tabular import kind_notes

    assert "--kind regression" in kind_notes(weights["w"], "classification", "auto", "w")[0]
    assert kind_notes(pd.Series([0, 1, 2, 1]), "classification", "auto", "y") == []
    assert kind_notes(weights["w"], "classification", "classification", "w") == []
    small = pd.DataFrame({"a": rng.normal(size=40), "y": rng.integers(0, 2, 40)})
    run = glassnet.train("tabular", small, target="y", epochs=1, quiet=True, out="s")
    assert any("only 40 rows" in n for n in run.task.load_data().notes)


def test_numpy_rows_for_numeric_models_and_a_clear_word_otherwise(workdir: Path) -> None:
    """A 2-D array predicts like the same rows as a DataFrame when every input is numeric
    (columns in the training table's order); a wrong width or a training array is refused
    with what to pass instead."""
    from glassnet.data.builtin import get_dataset

    ds = get_dataset("wine")
    frame = pd.read_csv(ds.make(Path("wine")))
    target = ds.defaults["target"]
    run = glassnet.train("tabular", frame, target=target, epochs=2, quiet=True, out="r")
    rows = frame.drop(columns=[target]).head(5)
    pd.testing.assert_frame_equal(run.predict(rows.to_numpy()), run.predict(rows))
    with pytest.raises(ConfigError, match=r"shape \(5, 3\) cannot be matched"):
        run.predict(rows.to_numpy()[:, :3])
    with pytest.raises(ConfigError, match="no column names"):
        glassnet.train("tabular", rows.to_numpy(), target="y", quiet=True, out="x")


def test_date_formats_are_recognised_and_read_as_days() -> None:
    from glassnet.data.table_dates import as_days, cycles, date_format

    assert date_format(pd.Series(["2024-01-31", None, "2023-12-01"])) == "%Y-%m-%d"
    assert date_format(pd.Series(["31/01/2024", "01/12/2023"])) == "%d/%m/%Y"
    assert date_format(pd.Series(["01/31/2024", "12/01/2023"])) == "%m/%d/%Y"
    assert date_format(pd.Series(["2024-01-31 08:30:00"])) == "%Y-%m-%d %H:%M:%S"
    for not_dates in (["2024-01-31", "soon"], ["A17", "B22"], [1.5, 2.5], ["2024-13-01"]):
        assert date_format(pd.Series(not_dates)) is None, not_dates

    days, unreadable = as_days(pd.Series(["1970-01-02", "", None, "2024-01-01", "x"]), "%Y-%m-%d")
    assert days[0] == 1 and days[3] == 19723
    assert np.isnan(days[[1, 2, 4]]).all() and unreadable.tolist() == [0, 0, 0, 0, 1]
    # 1970-01-01 was a Thursday (weekday 3), 2024-01-01 a Monday (0): the week's angle
    angles = np.arctan2(*cycles(np.array([0.0, 19723.0]))[:, [2, 3]].T) % (2 * np.pi)
    np.testing.assert_allclose(angles, [2 * np.pi * 3 / 7, 0.0], atol=1e-9)


def test_a_date_column_is_learned_from_not_left_out(workdir: Path) -> None:
    """Signups on a weekend churn: only the date says so. The date column is read as days,
    time of year and weekday (a note says which format), the net learns the rule, and a
    badly written date at predict time is named with its row."""
    rng = np.random.default_rng(0)
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, 1200), unit="D")
    frame = pd.DataFrame(
        {
            "signup": days.strftime("%d/%m/%Y"),
            "noise": rng.normal(size=1200),
            "churn": np.where(days.weekday >= 5, "yes", "no"),
        }
    )
    frame.loc[::97, "signup"] = None  # gaps: filled with the median day, flagged
    frame.to_csv("signups.csv", index=False)
    run = glassnet.train("tabular", "signups.csv", target="churn", epochs=60, quiet=True)
    assert run.metrics["test"]["accuracy"] >= 0.9, run.metrics["test"]
    assert run.metrics["test"]["majority_accuracy"] < 0.8
    assert "signup (weekday sin)" in run.task.feature_names()
    assert "signup (missing)" in run.task.feature_names()
    said = (Path(run.path) / "run.yaml").read_text()
    assert "column ''signup'' read as dates (%d/%m/%Y)" in said

    bad = frame.head(3).drop(columns="churn").copy()
    bad.loc[2, "signup"] = "2021-05-03"
    with pytest.raises(DataError, match=r"'signup' holds dates written %d/%m/%Y, but row 3"):
        run.predict(bad)


def test_dates_and_thousands_reach_the_exported_program(workdir: Path) -> None:
    """The export's plain-Python program reads dates and '12,345' numbers as glassnet
    does: its answers equal Run.predict's."""
    from tests.contract.test_export import _readme_program, _run_program

    rng = np.random.default_rng(1)
    days = pd.Timestamp("2022-03-01") + pd.to_timedelta(rng.integers(0, 500, 300), unit="D")
    income = rng.integers(500, 90_000, 300)
    frame = pd.DataFrame(
        {
            "when": days.strftime("%Y-%m-%d"),
            "income": [f"{v:,}" for v in income],
            "label": np.where((days.month > 6) ^ (income > 40_000), "a", "b"),
        }
    )
    frame.loc[5, "when"] = None
    frame.to_csv("train.csv", index=False)
    run = glassnet.train("tabular", "train.csv", target="label", epochs=3, quiet=True, out="run")
    folder = run.export("onnx").folder
    rows = frame.drop(columns="label").head(8)
    rows.to_csv("rows.csv", index=False)
    answer = _run_program(folder, _readme_program(folder), [str(Path("rows.csv").resolve())])
    predicted = run.predict(pd.read_csv("rows.csv"))
    assert [a["label"] for a in answer] == list(predicted["label"])
    for a, (_, row) in zip(answer, predicted.iterrows(), strict=True):
        for label, p in a["probabilities"].items():
            assert p == pytest.approx(row[f"probability_{label}"], abs=1e-5)
