"""Reading and writing a party's tables: CSV or Parquet, through Apache Arrow.

- CSV columns are read as text, so identifiers keep their exact spelling
  (leading zeros, long digit strings) and rows are written back unchanged.
- Errors name the file, and where it applies the row and the column.
  Rows are numbered from 1 for the first data row (the CSV header is line 1,
  so data row ``r`` is line ``r + 1`` of the file).
- Outputs are written to a temporary file beside the target and renamed into
  place: a failed job never leaves a half-written file.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from unseen.runtime.errors import InputError

PARQUET_SUFFIXES = {".parquet", ".pq"}


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def read_table(path: str | os.PathLike[str]) -> pa.Table:
    """Read a CSV (all columns as text) or Parquet file."""
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", file=str(p))
    if p.is_dir():
        raise InputError("is a directory, expected a CSV or Parquet file", file=str(p))
    if _is_parquet(p):
        try:
            return pq.read_table(p)
        except (pa.ArrowException, OSError) as e:
            raise InputError(f"not a readable Parquet file: {e}", file=str(p)) from None
    try:
        with p.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text: {e}", file=str(p)) from None
    if not header:
        raise InputError("empty file: expected a header line with column names", file=str(p))
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise InputError(f"duplicate column names in the header: {dupes}", file=str(p))
    try:
        return pacsv.read_csv(
            p,
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as e:
        raise _malformed(p, len(header), e) from None


def _malformed(p: Path, columns: int, error: pa.ArrowInvalid) -> InputError:
    """The first data row whose field count is not the header's. Arrow's own message
    quotes that row: it is shown here only, never sent to the peers (see InputError)."""
    try:
        with p.open(newline="", encoding="utf-8") as f:
            rows = (fields for fields in csv.reader(f) if fields)  # Arrow skips empty lines
            next(rows, None)  # the header
            for row, fields in enumerate(rows, start=1):
                if len(fields) != columns:
                    return InputError(
                        f"malformed CSV: {len(fields)} fields, the header has {columns}",
                        file=str(p),
                        row=row,
                    )
    except (csv.Error, UnicodeDecodeError):
        pass  # not a field count (an open quote, bad text): Arrow's message says what
    return InputError("malformed CSV", file=str(p), value=str(error))


def require_columns(table: pa.Table, columns: Sequence[str], file: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InputError(
            f"no column {missing[0]!r} (columns: {', '.join(table.column_names)})",
            file=file,
            column=missing[0],
        )


def write_table(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write atomically (temporary file, then rename) as CSV or Parquet by suffix."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent)
    os.close(fd)
    try:
        if _is_parquet(p):
            pq.write_table(table, tmp)
        else:
            pacsv.write_csv(table, tmp, write_options=pacsv.WriteOptions(quoting_style="needed"))
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
