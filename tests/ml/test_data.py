"""A party's aligned training data: every bad input names the file, the row and the column,
never shows a label value, and misaligned parties are caught."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unseen.ml.data import check_alignment, load_party_data, party_data_from_table
from unseen.runtime.errors import InputError
from unseen.runtime.local import run_local


def write(path: Path, rows: list[list[str]], header: list[str]) -> Path:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


HEADER = ["id", "a", "b", "label"]
GOOD = [["x1", "1.5", "2", "1"], ["x2", " 2.5 ", "3", "0"], ["x3", "0", "4", "true"]]


def test_loads_features_label_and_ids(tmp_path):
    d = load_party_data(write(tmp_path / "t.csv", GOOD, HEADER), label="label", id_columns=["id"])
    assert d.features == ["a", "b"]
    np.testing.assert_array_equal(d.X, [[1.5, 2], [2.5, 3], [0, 4]])
    np.testing.assert_array_equal(d.y, [1, 0, 1])
    assert d.ids == ["x1", "x2", "x3"] and d.n == 3


def test_a_weight_column_is_read_checked_and_no_feature(tmp_path):
    path = write(tmp_path / "t.csv", GOOD, HEADER)
    d = load_party_data(path, label="label", id_columns=["id"], weight="b")
    assert d.features == ["a"] and np.array_equal(d.w, [2, 3, 4])
    assert load_party_data(path, label="label", id_columns=["id"]).w is None
    rows = [r.copy() for r in GOOD]
    rows[1][2] = "-1"
    with pytest.raises(InputError, match="row 2, column 'b': a weight must not be negative"):
        load_party_data(
            write(tmp_path / "n.csv", rows, HEADER), label="label", id_columns=["id"], weight="b"
        )
    rows[1][2] = ""
    with pytest.raises(InputError, match="row 2, column 'b': empty value"):
        load_party_data(
            write(tmp_path / "e.csv", rows, HEADER), label="label", id_columns=["id"], weight="b"
        )


@pytest.mark.parametrize(
    "cell,value,message",
    [
        ((1, 1), "abc", "row 2, column 'a': not a number: 'abc'"),
        ((0, 2), "", "row 1, column 'b': empty value"),
        ((2, 1), "nan", "row 3, column 'a': nan is not a finite number"),
        ((1, 2), "inf", "row 2, column 'b': inf is not a finite number"),
    ],
)
def test_bad_feature_values_name_row_and_column(tmp_path, cell, value, message):
    rows = [list(r) for r in GOOD]
    rows[cell[0]][cell[1]] = value
    path = write(tmp_path / "bad.csv", rows, HEADER)
    with pytest.raises(InputError) as e:
        load_party_data(path, label="label", id_columns=["id"])
    assert str(path) in str(e.value) and message in str(e.value)


def test_constant_column(tmp_path):
    rows = [[r[0], "7", r[2], r[3]] for r in GOOD]
    with pytest.raises(InputError, match="column 'a': constant column"):
        load_party_data(write(tmp_path / "c.csv", rows, HEADER), label="label", id_columns=["id"])


def test_label_must_be_binary_and_is_never_shown(tmp_path):
    rows = [list(r) for r in GOOD]
    rows[1][3] = "SECRET-7"
    with pytest.raises(InputError) as e:
        load_party_data(write(tmp_path / "l.csv", rows, HEADER), label="label", id_columns=["id"])
    assert "row 2, column 'label'" in str(e.value) and "binary" in str(e.value)
    assert "SECRET" not in str(e.value)
    one_class = [[r[0], r[1], r[2], "1"] for r in GOOD]
    with pytest.raises(InputError, match="only one class"):
        load_party_data(
            write(tmp_path / "o.csv", one_class, HEADER), label="label", id_columns=["id"]
        )
    # for scoring, where the label only serves the report, one class is accepted
    scored = load_party_data(
        tmp_path / "o.csv", label="label", id_columns=["id"], allow_one_class=True
    )
    assert scored.y is not None and set(scored.y.tolist()) == {1.0}


def test_missing_columns_and_no_features(tmp_path):
    path = write(tmp_path / "t.csv", GOOD, HEADER)
    with pytest.raises(InputError, match="no column 'target'"):
        load_party_data(path, label="target")
    with pytest.raises(InputError, match="no feature columns left"):
        load_party_data(path, label="label", id_columns=["id"], exclude=["a", "b"])


def test_dataframes_get_the_same_checks():
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [1.0, 2.0, 3.0]})
    import pyarrow as pa

    with pytest.raises(InputError, match="<frame>, row 2, column 'a': missing value"):
        party_data_from_table(pa.Table.from_pandas(df), file="<frame>")


def _align(frames: dict[str, pd.DataFrame]) -> None:
    import pyarrow as pa

    def role(name: str):
        def run(ctx):
            data = party_data_from_table(
                pa.Table.from_pandas(frames[name]), file=f"{name}.csv", id_columns=["id"]
            )
            check_alignment(ctx, data)
            check_alignment(ctx, data, namespace="again")  # a second check in the same job

        return run

    run_local({name: role(name) for name in frames})


def test_alignment_of_rows_and_ids():
    a = pd.DataFrame({"id": ["1", "2", "3"], "x": [1.0, 2.0, 3.0]})
    _align({"a": a, "b": a.rename(columns={"x": "y"})})
    with pytest.raises(InputError, match=r"(3 rows here but 2|2 rows here but 3) at"):
        _align({"a": a, "b": a.iloc[:2]})
    with pytest.raises(InputError, match="not the same, in the same order"):
        _align({"a": a, "b": a.iloc[[1, 0, 2]]})


@pytest.mark.parametrize(
    "values",
    [
        ["b", " a ", "NA", None, "", "c", "a", "?", "null", "B", "n/a"],
        [3, None, 12, 3, -1, 0],
        [True, False, None, True],
        [1.5, None, 2.0, float("nan"), 1.5],
    ],
)
def test_a_tables_categories_are_coded_as_python_codes_them(values):
    """The Arrow path (files) and the Python path (DataFrames) give the same categories
    and codes: trimmed text, missing tokens as NaN, categories sorted; with given
    categories, one not among them is -1."""
    import pyarrow as pa

    from unseen.ml.data import _encode_column, encode_categories

    column = pa.chunked_array([pa.array(values[:2]), pa.array(values[2:])])
    want = encode_categories(values)
    got = _encode_column(column, None)
    assert got[1] == want[1] and np.array_equal(got[0], want[0], equal_nan=True)
    known = want[1][:1]
    want = encode_categories(values, known)
    got = _encode_column(column, known)
    assert got[1] == want[1] and np.array_equal(got[0], want[0], equal_nan=True)
    coded = got[0][~np.isnan(got[0])]
    assert set(coded.tolist()) == {0.0, -1.0}  # the one category given, and the others
