"""Reading and writing a party's tables (unseen.data.io): errors name file and row,
never the content of a row."""

from __future__ import annotations

import pyarrow as pa
import pytest

from unseen.data.io import _malformed, read_table, write_table
from unseen.runtime.errors import InputError


def test_a_row_with_too_many_fields_is_named_by_number_not_content(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,a,b\nr1,1,2\n\nr2,3,4\nr3,5,6,Zhang San\nr4,7,8\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_table(path)
    # data rows count from 1 and skip empty lines, as Arrow does
    assert str(e.value) == f"{path}, row 3: malformed CSV: 4 fields, the header has 3"
    assert "Zhang" not in e.value.shared_message


def test_csv_round_trip_keeps_identifiers_as_text(tmp_path):
    table = pa.table({"id": ["007", "12345678901234567890"], "x": ["1.5", "2"]})
    path = write_table(table, tmp_path / "out.csv")
    back = read_table(path)
    assert back.column("id").to_pylist() == ["007", "12345678901234567890"]
    assert not list(tmp_path.glob(".out.csv.*"))  # no temporary file left behind


def test_other_csv_faults_keep_arrows_detail_at_this_party(tmp_path):
    # every row has the header's field count, so only Arrow's message can say what is
    # wrong: it stays at this party
    path = tmp_path / "q.csv"
    path.write_text("id,a\nr1,1\n", encoding="utf-8")
    error = _malformed(path, 2, pa.ArrowInvalid("CSV parse error: r1,secret"))
    assert error.shared_message == f"{path}: malformed CSV"
    assert str(error) == f"{path}: malformed CSV: CSV parse error: r1,secret"
