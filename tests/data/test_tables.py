"""Reading tables: the errors say what the file looks like and where it went wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

import glassnet
from glassnet.data.tables import read_table
from glassnet.errors import DataError


def test_a_semicolon_file_is_read_as_one_with_a_note(tmp_path: Path) -> None:
    """A spreadsheet saved where ';' separates fields (and ',' marks decimals) reads
    without --sep; a separator given that reads as one column is refused with the fix."""
    path = tmp_path / "semi.csv"
    path.write_text("a;b;label\n1;2,5;x\n3;-4,25;y\n", encoding="utf-8")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b", "label"]
    assert frame["b"].tolist() == [2.5, -4.25]
    assert frame.attrs["notes"] == [
        "'semi.csv' read as semicolon-separated (--sep to choose)",
        "numbers with decimal commas read as numbers: 'b'",
    ]
    assert read_table(path, sep=";")["b"].tolist() == [2.5, -4.25]
    with pytest.raises(DataError, match=r"looks semicolon-separated.*--sep ';'"):
        read_table(path, sep=",")


def test_numbers_with_thousands_separators_are_numbers(tmp_path: Path) -> None:
    """'12,345.5' (quoted in a CSV) is a number; text that only looks like one in places,
    and lists such as '1,2' in a comma file, stay text."""
    path = tmp_path / "money.csv"
    path.write_text(
        'income,code,mixed\n"53,944.5",A1,"1,2"\n"1,200",B2,x\n950,C3,"3,4"\n',
        encoding="utf-8",
    )
    frame = read_table(path)
    assert frame["income"].tolist() == [53944.5, 1200.0, 950.0]
    assert frame["mixed"].tolist() == ["1,2", "x", "3,4"]
    assert frame.attrs["notes"] == ["numbers with thousands separators read as numbers: 'income'"]


def test_sep_is_an_option_of_table_tasks(workdir: Path) -> None:
    rows = "".join(f"{i};{i % 3};{'x' if i % 2 else 'y'}\n" for i in range(60))
    Path("semi.csv").write_text("a;b;label\n" + rows, encoding="utf-8")
    run = glassnet.train("tabular", "semi.csv", target="label", sep=";", epochs=1, quiet=True)
    assert run.task.feature_names() == ["a", "b"]


def test_a_latin1_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("a,b\n1,café\n".encode() + "2,crème\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"line 3 of .* is not UTF-8 \(byte 0xe8"):
        read_table(path)


def test_columns_named_twice_are_noted(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a\n1,2,3\n", encoding="utf-8")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b", "a.1"]
    assert "columns named twice" in frame.attrs["notes"][0] and "'a'" in frame.attrs["notes"][0]


def test_too_few_rows_to_split_is_said_not_a_traceback(workdir: Path) -> None:
    Path("two.csv").write_text("a,label\n1,x\n2,y\n", encoding="utf-8")
    with pytest.raises(DataError, match="row.* left to split"):
        glassnet.train("tabular", "two.csv", target="label", epochs=1, quiet=True)
