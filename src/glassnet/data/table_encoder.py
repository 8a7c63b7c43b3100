"""Fitted preprocessing for tables: column schema, scalers, category lists, label names.

Fitted on the training split only, stored as plain JSON (`state`), and applied the same way
at train, evaluate, predict and serve time. Feature layout in the output matrix:
numeric columns (standardised, + a 0/1 "was missing" column where training had gaps) and
date columns (days standardised, time of year and weekday as sin/cos, + "was missing"),
then one-hot blocks, then the integer codes of embedded (high-cardinality) categories,
last, where `mlp.*` expects them.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import numpy as np
import pandas as pd

from glassnet.data.table_dates import CYCLES, as_days, cycles, date_format, day_text
from glassnet.data.tables import as_numbers, require_column
from glassnet.errors import DataError

MISSING = "<missing>"
MAX_CLASSES_FOR_INTEGER_TARGET = 20
# Beyond this a number cannot be standardised and carried in float32 without becoming
# infinite or swamping every other value: such a value is refused, named, not used.
LARGEST = 1e30


def _too_large(values: np.ndarray, column: str, source: str, col: pd.Series) -> None:
    big = np.isfinite(values) & (np.abs(values) > LARGEST)
    if big.any():
        rows = np.flatnonzero(big)
        raise DataError(
            f"column '{column}' holds {len(rows)} value(s) too large to learn from "
            f"(|x| > {LARGEST:g}), e.g. row {rows[0] + 1}: {values[rows[0]]:g}",
            where=source,
            fix="Fix those values, or rescale the column (e.g. to thousands)",
        )


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _scale(values: np.ndarray) -> dict[str, Any]:
    """How a numeric (or date) column is standardised and its gaps filled, from its
    finite training values."""
    finite = values[np.isfinite(values)]
    return {
        "mean": float(finite.mean()),
        "std": float(finite.std() or 1.0),
        "fill": float(np.median(finite)),
        "missing_indicator": bool(len(finite) < len(values)),
    }


def _as_strings(series: pd.Series) -> pd.Series:
    """Category values as strings; integral floats print as ints ('3', not '3.0'), each
    value on its own (a 2.5 beside it does not make a 3 into '3.0')."""
    if _is_numeric(series):  # vectorised: the common case of coded categories and labels
        values = series.to_numpy(dtype=np.float64)
        gaps = np.isnan(values)
        filled = np.where(gaps, 0, values)
        with np.errstate(invalid="ignore"):  # inf is a value here, not integral
            integral = np.isfinite(filled) & (np.mod(filled, 1) == 0) & (np.abs(filled) < 2**63)
        text = filled.astype(str).astype(object)
        text[integral] = filled[integral].astype(np.int64).astype(str)
        return pd.Series(np.where(gaps, MISSING, text).astype(object), index=series.index)

    return series.astype(object).map(_category_string)


_PLAIN = frozenset({int, float, type(None)})  # the types a JSON row's numbers and gaps arrive as


def _numbers_or_gaps(raw: list[Any]) -> bool:
    """Whether a column's request values are all numbers (not bools) or None."""
    return all(
        type(v) in _PLAIN or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in raw
    )


def _plain_numbers(raw: list[Any]) -> bool:
    """Numbers and gaps, at least one a number (a CSV reader would have made them a float
    column)."""
    return _numbers_or_gaps(raw) and any(v is not None for v in raw)


def _floats(raw: list[Any]) -> list[float]:
    return [np.nan if v is None else float(v) for v in raw]


def _category_string(v: Any) -> str:
    """One category value of a text (object) column as a string; gaps are MISSING."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return MISSING
    return str(v)


def infer_kind(target: pd.Series) -> Literal["classification", "regression"]:
    """Numbers with many distinct or fractional values are regression; the rest classes."""
    values = target.dropna()
    if not _is_numeric(values):
        return "classification"
    numbers = values.to_numpy(dtype=float)
    numbers = numbers[np.isfinite(numbers)]  # an infinite target is refused by the caller
    integral = bool(np.all(np.mod(numbers, 1) == 0))
    return (
        "classification"
        if integral and values.nunique() <= MAX_CLASSES_FOR_INTEGER_TARGET
        else "regression"
    )


def check_target(
    frame: pd.DataFrame,
    *,
    target: str,
    source: str,
    kind: Literal["auto", "classification", "regression"] = "auto",
) -> Literal["classification", "regression"]:
    """The target's task kind, or a DataError when the column cannot be learned from
    (absent, empty, text for regression, a single value)."""
    require_column(frame, target, source, "target")
    y = frame[target]
    if y.isna().all():
        raise DataError(
            f"the target column '{target}' is empty in {source}",
            fix="Choose a target column that has values",
        )
    resolved = infer_kind(y) if kind == "auto" else kind
    if resolved == "regression" and not _is_numeric(y.dropna()):
        bad = y.dropna()[pd.to_numeric(y.dropna(), errors="coerce").isna()].iloc[0]
        raise DataError(
            f"regression needs a numeric target, but '{target}' holds text such as {bad!r}",
            where=source,
            fix="Use --kind classification, or clean the column",
        )
    if resolved == "regression":
        values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
        infinite = np.isinf(values)
        if infinite.any():
            rows = ", ".join(str(r + 1) for r in np.flatnonzero(infinite)[:5])
            raise DataError(
                f"the target '{target}' is infinite in row(s) {rows}",
                where=source,
                fix="Fix or remove those rows",
            )
        _too_large(values, target, source, y)
    if y.dropna().nunique() < 2:
        raise DataError(
            f"the target column '{target}' has a single value "
            f"({_as_strings(y.dropna()).iloc[0]!r}): there is nothing to learn",
            where=source,
            fix="Choose another target, or add rows with other values",
        )
    return resolved


def check_values(frame: pd.DataFrame, source: str) -> None:
    """Numbers too large to learn from, found on the whole file (so rows are the file's)."""
    for name in frame.columns:
        if _is_numeric(frame[name]):
            _too_large(frame[name].to_numpy(dtype=np.float64), str(name), source, frame[name])


class TableEncoder:
    """Turns a DataFrame into float32 features and targets, and predictions back into labels."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.notes: list[str] = []

    # ---- fitting -------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        *,
        target: str,
        source: str,
        kind: Literal["auto", "classification", "regression"] = "auto",
        categorical: Literal["auto", "onehot", "embed"] = "auto",
        onehot_max: int = 10,
        features: list[str] | None = None,
        drop: list[str] | None = None,
    ) -> TableEncoder:
        resolved = check_target(frame, target=target, source=source, kind=kind)
        y = frame[target]
        notes: list[str] = []
        state: dict[str, Any] = {"target": target, "kind": resolved, "columns": []}
        if resolved == "classification":
            state["labels"] = sorted(set(_as_strings(y.dropna())), key=_label_order)
        else:
            values = y.dropna().to_numpy(dtype=np.float64)
            state["target_mean"] = float(values.mean())
            state["target_std"] = float(values.std() or 1.0)

        for name in features or [c for c in frame.columns if c != target]:
            require_column(frame, name, source, "feature")
            if name == target or name in (drop or []):
                continue
            col = frame[name]
            if col.isna().all():
                raise DataError(
                    f"column '{name}' is entirely empty",
                    where=source,
                    fix=f"Drop it (--drop {name}) or fill it in",
                )
            if _is_numeric(col):
                values = col.to_numpy(dtype=np.float64)
                _too_large(values, str(name), source, col)
                if np.isinf(values).any():
                    notes.append(
                        f"{int(np.isinf(values).sum())} infinite value(s) of '{name}' were "
                        "treated as missing"
                    )
                state["columns"].append({"name": str(name), "type": "numeric", **_scale(values)})
                continue
            fmt = date_format(col)
            if fmt is not None:
                days, _ = as_days(col, fmt)
                state["columns"].append(
                    {"name": str(name), "type": "date", "format": fmt, **_scale(days)}
                )
                notes.append(
                    f"column '{name}' read as dates ({fmt}): the day count, time of year "
                    "and weekday"
                )
                continue
            cats = sorted(set(_as_strings(col)))
            if len(cats) > 50 and len(cats) > 0.5 * len(col):
                notes.append(
                    f"column '{name}' looks like an identifier ({len(cats)} distinct "
                    "values) and was left out"
                )
                continue
            ctype = (
                categorical
                if categorical != "auto"
                else ("onehot" if len(cats) <= onehot_max else "embed")
            )
            state["columns"].append({"name": str(name), "type": ctype, "categories": cats})
        if not state["columns"]:
            raise DataError(
                "no feature columns are left to learn from",
                where=source,
                fix="Check --features / --drop",
            )
        # Embedded columns go last, in the order the net reads them.
        order = {"numeric": 0, "date": 0, "onehot": 1, "embed": 2}
        state["columns"].sort(key=lambda c: order[c["type"]])
        enc = cls(state)
        enc.notes = notes
        return enc

    # ---- schema --------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return str(self.state["kind"])

    @property
    def labels(self) -> list[str]:
        return list(self.state.get("labels", []))

    @property
    def input_columns(self) -> list[str]:
        return [c["name"] for c in self.state["columns"]]

    @property
    def feature_names(self) -> list[str]:
        names: list[str] = []
        for c in self.state["columns"]:
            if c["type"] in ("numeric", "date"):
                if c["type"] == "numeric":
                    names.append(c["name"])
                else:
                    names += [f"{c['name']} ({part})" for part in ("days", *CYCLES)]
                if c["missing_indicator"]:
                    names.append(f"{c['name']} (missing)")
            elif c["type"] == "onehot":
                names.extend(f"{c['name']}={v}" for v in c["categories"])
            else:
                names.append(f"{c['name']} (code)")
        return names

    @property
    def cardinalities(self) -> tuple[int, ...]:
        # +1: code 0 stands for a category unseen in training.
        return tuple(
            len(c["categories"]) + 1 for c in self.state["columns"] if c["type"] == "embed"
        )

    @property
    def num_outputs(self) -> int:
        return len(self.labels) if self.kind == "classification" else 1

    # ---- applying ------------------------------------------------------------------------
    def features(self, frame: pd.DataFrame, source: str) -> np.ndarray:
        """(N, F) float32 features. Unseen categories are mapped to 'unknown' and noted."""
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"{source} lacks the column(s) {', '.join(map(repr, missing))} the model was "
                "trained on",
                fix=f"The model expects: {', '.join(self.input_columns)}",
            )
        self.notes = []
        blocks: list[np.ndarray] = []
        for c in self.state["columns"]:
            col = frame[c["name"]]
            if c["type"] == "numeric":
                values = as_numbers(col)
                bad = np.isnan(values) & col.notna().to_numpy()
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    raise DataError(
                        f"column '{c['name']}' should be numeric but row {row + 1} holds "
                        f"{col.iloc[row]!r}",
                        where=source,
                        fix="Fix or blank that value",
                    )
                _too_large(values, c["name"], source, col)
                blocks += self._numeric_block(c, values)
                continue
            if c["type"] == "date":
                blocks += self._date_block(c, col, source)
                continue
            blocks.append(self._category_block(c, list(_as_strings(col))))
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def _date_block(self, c: dict[str, Any], col: pd.Series, source: str) -> list[np.ndarray]:
        """A date column's features: the day count as a numeric column (gaps filled with
        the training median, noted; a was-missing flag where training had gaps), with the
        time of year and weekday of the (filled) day between them."""
        days, unreadable = as_days(col, c["format"])
        if unreadable.any():
            row = int(np.flatnonzero(unreadable)[0])
            held = col.iloc[row]
            held = held.item() if isinstance(held, np.generic) else held  # as the rows had it
            raise DataError(
                f"column '{c['name']}' holds dates written {c['format']}, but row {row + 1} "
                f"holds {held!r}",
                where=source,
                fix="Write that date the same way, or blank it",
            )
        block = self._numeric_block(c, days)
        block.insert(1, cycles(np.where(np.isfinite(days), days, c["fill"])))
        return block

    def _numeric_block(self, c: dict[str, Any], values: np.ndarray) -> list[np.ndarray]:
        """A numeric column's features: gaps filled with the training median (noted),
        standardised, plus its was-missing flag where it has one."""
        gaps = ~np.isfinite(values)
        if gaps.any():
            self._note_gaps(c, int(gaps.sum()))
        values = np.where(gaps, c["fill"], values)
        block = [((values - c["mean"]) / c["std"])[:, None]]
        if c["missing_indicator"]:
            block.append(gaps.astype(np.float64)[:, None])
        return block

    def _category_block(self, c: dict[str, Any], strings: list[str]) -> np.ndarray:
        """A category column's features from its values as strings: one-hot, or the code
        an embedding looks up (0 = unknown); unseen values are noted."""
        codes = np.array(self._category_codes(c, strings), dtype=np.int64)
        if c["type"] == "onehot":
            onehot = np.zeros((len(codes), len(c["categories"])))
            hit = np.flatnonzero(codes >= 0)
            onehot[hit, codes[hit]] = 1.0
            return onehot
        return (codes + 1).astype(np.float64)[:, None]

    def features_from_rows(self, rows: list[dict[str, Any]], source: str) -> np.ndarray | None:
        """`features` for rows given as dicts (a service's requests), without a DataFrame:
        each column's cells in Python comprehensions, written into one array, with numpy
        only where a column needs it (dates, coded categories). The same numbers, notes and
        errors as `features`; None when a value needs pandas' parsing (text in a numeric
        column), so the caller takes the DataFrame path for those rows. (Column by column in
        numpy cost ~70 us a column for one row, more than a request's HTTP handling.)"""
        out = np.zeros((len(rows), self.width), np.float32)
        return out if self._walk_rows(rows, source, out) else None

    def notes_from_rows(self, rows: list[dict[str, Any]], source: str) -> list[str] | None:
        """The notes (and errors) `features_from_rows` gives these rows, without the
        features; None where it declines."""
        if self._unremarkable(rows):
            self.notes = []
            return []
        return list(self.notes) if self._walk_rows(rows, source, None) else None

    def _unremarkable(self, rows: list[dict[str, Any]]) -> bool:
        """Whether every cell is one the walk takes without a note, an error or declining:
        a finite number within range in a numeric column, a string seen in training in a
        category column (no date columns). Most served rows are; looking at each cell
        costs ~5 us a row where the walk costs ~50 (a shared pass asks it of every
        caller). False says nothing: the walk decides."""
        if self._cell_checks is None:
            return False
        for name, categories in self._cell_checks:
            for r in rows:
                v = r.get(name)
                if categories is None:
                    if (type(v) is not float and type(v) is not int) or not (
                        -LARGEST <= v <= LARGEST
                    ):
                        return False
                elif type(v) is not str or v not in categories:
                    return False
        return True

    @functools.cached_property
    def _cell_checks(self) -> list[tuple[str, dict[str, int] | None]] | None:
        """(column, its categories or None for numbers) for `_unremarkable`; None where a
        date column needs the walk's parsing."""
        columns = self.state["columns"]
        if any(c["type"] not in ("numeric", "onehot", "embed") for c in columns):
            return None
        return [(c["name"], self._category_indices.get(c["name"])) for c in columns]

    def _walk_rows(self, rows: list[dict[str, Any]], source: str, out: np.ndarray | None) -> bool:
        """Encode `rows` column by column into `out` (None: only their notes and errors);
        False when a value needs pandas' parsing."""
        self.notes = []
        at = 0  # where the column's features start in a row
        for c in self.state["columns"]:
            name, kind = c["name"], c["type"]
            raw = [r.get(name) for r in rows]
            if kind == "numeric":
                cells = self._numeric_cells(c, raw, source, out is not None)
                if cells is None:
                    return False
                for cell in cells:  # none when only the notes are asked for
                    out[:, at] = cell
                    at += 1
                continue
            if kind == "date" or _plain_numbers(raw):
                # as pandas: dates parsed by format; plain numbers in a category column
                # become a float column whose integral values print as ints ('3')
                block = (
                    np.concatenate(self._date_block(c, pd.Series(raw, dtype=object), source), 1)
                    if kind == "date"
                    else self._category_block(c, list(_as_strings(pd.Series(_floats(raw)))))
                )
                if out is not None:
                    out[:, at : at + block.shape[1]] = block
                    at += block.shape[1]
                continue
            strings = [v if type(v) is str else _category_string(v) for v in raw]
            codes = self._category_codes(c, strings)
            if out is None:
                continue
            if kind == "onehot":
                for i, code in enumerate(codes):
                    if code >= 0:
                        out[i, at + code] = 1.0
                at += len(c["categories"])
            else:
                out[:, at] = [code + 1 for code in codes]
                at += 1
        return True

    def _numeric_cells(
        self, c: dict[str, Any], raw: list[Any], source: str, features: bool = True
    ) -> list[list[float]] | None:
        """A numeric column's features: standardised values (gaps filled with the training
        median, noted), then its was-missing flags where it has them ([] without
        `features`: the notes and errors alone). None when a value is not a plain number."""
        if not _numbers_or_gaps(raw):
            return None
        # one pass: a gap (None, NaN, inf) or a value too large; NaN fails both comparisons
        gaps = [v is None or not -LARGEST <= v <= LARGEST for v in raw]
        gapped = sum(gaps)
        if gapped and any(
            gap and v is not None and math.isfinite(v) for v, gap in zip(raw, gaps, strict=True)
        ):
            values = np.array(_floats(raw))
            _too_large(values, c["name"], source, pd.Series(values))
        mean, std, fill = c["mean"], c["std"], c["fill"]
        cells: list[list[float]] = []
        if features:
            cells.append(
                [((fill if gap else v) - mean) / std for v, gap in zip(raw, gaps, strict=True)]
            )
            if c["missing_indicator"]:
                cells.append([float(gap) for gap in gaps])
        if gapped:
            self._note_gaps(c, gapped)
        return cells

    def _note_gaps(self, c: dict[str, Any], count: int) -> None:
        median = day_text(c["fill"], c["format"]) if c["type"] == "date" else f"{c['fill']:.4g}"
        self.notes.append(
            f"{count} missing or infinite value(s) of '{c['name']}' were "
            f"filled with its training median ({median})"
        )

    def _category_codes(self, c: dict[str, Any], strings: list[str]) -> list[int]:
        """Each value's category index (-1: unseen in training, noted)."""
        index = self._category_indices[c["name"]]
        codes = [index.get(v, -1) for v in strings]
        unseen = [v for v, code in zip(strings, codes, strict=True) if code < 0]
        if unseen:
            examples = sorted(set(unseen))[:3]
            self.notes.append(
                f"{len(unseen)} value(s) of '{c['name']}' were not seen in training "
                f"(e.g. {', '.join(examples)}) and were treated as unknown"
            )
        return codes

    @functools.cached_property
    def _category_indices(self) -> dict[str, dict[str, int]]:
        """{column: {category: index}} for the category columns."""
        return {
            c["name"]: {v: i for i, v in enumerate(c["categories"])}
            for c in self.state["columns"]
            if "categories" in c
        }

    @functools.cached_property
    def width(self) -> int:
        """Features per row."""
        return len(self.feature_names)

    def has_target(self, frame: pd.DataFrame) -> bool:
        return self.state["target"] in frame.columns

    def targets(self, frame: pd.DataFrame, source: str) -> np.ndarray:
        """Class indices (int64) or standardised values (float32); rows must have a target."""
        name = self.state["target"]
        require_column(frame, name, source, "target")
        y = frame[name]
        if self.kind == "classification":
            index = {v: i for i, v in enumerate(self.labels)}
            strings = _as_strings(y)
            unknown = sorted(set(strings) - set(index))
            if unknown:
                numeric = pd.to_numeric(pd.Series(unknown + self.labels), errors="coerce")
                amounts = (
                    f"'{name}' was taken as classes because it holds few whole numbers; if they "
                    "are amounts (a weight, a count), pass --kind regression. "
                    if numeric.notna().all()
                    else ""
                )
                raise DataError(
                    f"target '{name}' has labels the model does not know: {', '.join(unknown[:5])}",
                    where=source,
                    fix=f"{amounts}Known labels: {', '.join(self.labels[:20])}"
                    + (" ..." if len(self.labels) > 20 else ""),
                )
            return strings.map(index).to_numpy(dtype=np.int64)
        values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(values).any():
            row = int(np.flatnonzero(np.isnan(values))[0])
            raise DataError(
                f"target '{name}' is not a number in row {row + 1}: {y.iloc[row]!r}",
                where=source,
                fix="Fix or remove that row",
            )
        return ((values - self.state["target_mean"]) / self.state["target_std"]).astype(np.float32)

    def unscale(self, values: np.ndarray) -> np.ndarray:
        """Standardised regression outputs back to the target's units."""
        return values * self.state["target_std"] + self.state["target_mean"]


def _label_order(v: str) -> tuple[int, float | str]:
    try:
        return (0, float(v))
    except ValueError:
        return (1, v)
