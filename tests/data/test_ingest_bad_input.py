"""Bad input: each case gives one line naming the file (and line/column) and leaves nothing behind."""

from __future__ import annotations

import gzip
import random

import pytest

from ingest_helpers import assert_nothing_left
from tui_mlops.data.ingest import IngestOptions, ingest_file
from tui_mlops.errors import InputError

GARBAGE = random.Random(7).randbytes(4000)
LATIN1 = "city,n\nBerlin,1\nMünchen,2\n".encode("latin-1")

# (file name, bytes, pieces the message must hold). Names ending in .gz are gzip'd by `write`.
CASES = [
    ("empty.csv", b"", ["empty.csv: the file is empty"]),
    ("blank.csv", b"\n  \n\n", ["the file is empty"]),
    ("empty.csv.gz", b"", ["the file is empty"]),
    ("header.csv", b"a,b,c\n", ["header.csv: the file has a header but no data rows"]),
    ("header.tsv.gz", b"a\tb\n", ["header but no data rows"]),
    ("garbage.csv", GARBAGE, ["garbage.csv: looks like a binary file, not CSV text"]),
    ("garbage.json", GARBAGE, ["looks like a binary file, not JSON text"]),
    ("garbage.parquet", GARBAGE, ["garbage.parquet: not a Parquet file"]),
    ("latin1.csv", LATIN1, ["latin1.csv: line 3 is not valid UTF-8 (byte 0xfc)", "re-encode", "UTF-8"]),
    ("latin1.ndjson", '{"city": "Köln"}\n'.encode("latin-1"), ["line 1 is not valid UTF-8"]),
    ("utf16.csv", "a,b\n1,2\n".encode("utf-16"), ["UTF-16 encoded; re-encode it to UTF-8"]),
    ("zipped.csv", gzip.compress(b"a,b\n1,2\n"), ["gzip-compressed; name it zipped.csv.gz"]),
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n6,7\n", ["ragged.csv: line 3 has 3 fields but the header has 2", "ragged"]),
    ("short.csv", b"a,b\n1,2\n3\n6,7\n", ["line 3 has 1 field but the header has 2"]),
    ("trailing.csv", b"a,b\n1,2\n3,4,\n", ["line 3 has 3 fields"]),
    ("quoted.csv", b'a,b\n"1","2"\n"3","4","5"\n', ["line 3 has 3 fields"]),
    ("ragged.tsv", b"a\tb\n1\t2\n3\t4\t5\n", ["line 3 has 3 fields", "separated by tab"]),
    ("ragged.csv.gz", b"a;b\n1;2\n3;4;5\n", ["line 3 has 3 fields", "separated by ';'"]),
    ("unclosed.csv", b'a,b\n1,"x\n2,3\n', ["line 2: a quoted field is never closed"]),
    ("dup.csv", b"a,b,a\n1,2,3\n", ["dup.csv: duplicate column name 'a' in the header (line 1)"]),
    ("dupcase.csv", b"id,ID\n1,2\n", ["duplicate column name 'ID'", "same as 'id', names ignore case"]),
    ("dup.tsv", b"x\ty\tx\n1\t2\t3\n", ["duplicate column name 'x'"]),
    ("dup.json", b'[{"a": 1, "b": 2, "a": 3}]', ["dup.json: record 1 has the key 'a' twice"]),
    ("dupcase.ndjson", b'{"k": 1}\n{"k": 1, "K": 2}\n', ["line 2 has the key 'K' twice (same as 'k'"]),
    ("numbers.json", b"[1, 2, 3]", ["numbers.json: not tabular JSON: record 1 is a number, not an object"]),
    ("scalar.json", b"42\n", ["not tabular JSON", "starts with '42'"]),
    ("lists.json", b"[[1, 2], [3, 4]]", ["record 1 is a list"]),
    ("nested.json", b'{"data": [{"a": 1}, {"a": 2}]}', ["not tabular JSON: one object whose key 'data'"]),
    ("broken.json", b'[{"a": 1},\n {"a": 2,\n  "b" 3}]', ["broken.json: malformed JSON at line 3, column 7"]),
    ("none.json", b"[]", ["none.json: the JSON holds no records"]),
    ("broken.ndjson", b'{"a": 1}\n{"a": 2\n{"a": 3}\n', ["broken.ndjson: malformed JSON at line 2, column 8: Expecting ',' delimiter"]),
    ("sheet.xlsx", b"PK\x03\x04", ["sheet.xlsx: unsupported file type '.xlsx'"]),
]


@pytest.mark.parametrize("filename,data,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_leaves_nothing(home, write, filename, data, expected):
    src = write(filename, data)
    with pytest.raises(InputError) as info:
        ingest_file(home, src)
    message = str(info.value)
    assert "\n" not in message and str(src) in message
    for piece in expected:
        assert piece in message, message
    assert "Invalid Input Error" not in message and "Possible" not in message
    assert_nothing_left(home)


def test_corrupt_gzip(home, tmp_path):
    src = tmp_path / "bad.csv.gz"
    src.write_bytes(b"\x1f\x8b\x08\x00" + GARBAGE)
    with pytest.raises(InputError, match=r"bad\.csv\.gz: not a valid gzip file"):
        ingest_file(home, src)
    cut = tmp_path / "cut.csv.gz"
    whole = gzip.compress(("a,b,c\n" + _rows(5000)).encode())
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"cut\.csv\.gz: the gzip data is cut short"):
        ingest_file(home, cut)
    assert_nothing_left(home)


def _rows(n: int) -> str:
    return "".join(f"{i},name{i % 10},{i * 0.25}\n" for i in range(n))


# Problems past the first megabyte: DuckDB finds them in its one pass; the message keeps the line.
LATE = [
    ("late_ragged.csv", "a,b,c\n" + _rows(120_000) + "1,2,3,4\n" + _rows(10),
     ["late_ragged.csv: line 120002 has 4 fields but the header has 3 (ragged row)"]),
    ("late_latin1.csv", ("a,b,c\n" + _rows(120_000)).encode() + "7,Zürich,1.0\n".encode("latin-1"),
     ["late_latin1.csv: line 120002 is not valid UTF-8", "re-encode"]),
    ("late_mixed.csv", "a,b,c\n" + _rows(120_000) + "oops,x,1.0\n",
     ["late_mixed.csv: line 120002, column 'a': value 'oops' is not BIGINT", "--type a=VARCHAR"]),
    ("late_mixed.ndjson", "".join(f'{{"a": {i}, "b": "x"}}\n' for i in range(60_000)) + '{"a": "oops", "b": "y"}\n',
     ["late_mixed.ndjson: line 60001, column 'a'", "mixed types", "--type a=VARCHAR"]),
    ("late_mixed.json", "[" + ",".join(f'{{"a": {i}, "b": "{i:012d}"}}' for i in range(60_000))
     + ', {"a": "oops", "b": "x"}]',
     ["late_mixed.json: record 60001, column 'a'", "--type a=VARCHAR"]),
    # Past our 1 MB head but inside DuckDB's sniffing sample: found by the error-path scan.
    ("sniffed.csv", "a,b,c\n" + "".join(f"{i},{'w' * 90},{i}\n" for i in range(12_000)) + "1,2\n" + _rows(10),
     ["sniffed.csv: line 12002 has 2 fields but the header has 3"]),
]


@pytest.mark.parametrize("filename,data,expected", LATE, ids=[c[0] for c in LATE])
def test_problems_deep_in_the_file_name_their_line(home, write, filename, data, expected):
    src = write(filename, data)
    assert src.stat().st_size > 1 << 20
    with pytest.raises(InputError) as info:
        ingest_file(home, src)
    message = str(info.value)
    assert "\n" not in message
    for piece in expected:
        assert piece in message, message
    assert_nothing_left(home)


def test_bad_dataset_names(home, write):
    src = write("ok.csv", "a\n1\n")
    for bad in ("../../etc", "/abs", "a/b", ".hidden", ""):
        with pytest.raises(InputError, match="invalid dataset name"):
            ingest_file(home, src, IngestOptions(name=bad or None) if bad else IngestOptions(name="-x"))
    assert_nothing_left(home)


def test_bad_parquet_input(home, tmp_path):
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    dup = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["v", "V"]), dup)
    with pytest.raises(InputError, match=r"dup\.parquet: duplicate column name 'V' \(same as 'v'"):
        ingest_file(home, dup)
    con = duckdb.connect()
    none = tmp_path / "none.parquet"
    con.execute("COPY (SELECT 1 AS a WHERE false) TO ? (FORMAT parquet)", [str(none)])
    with pytest.raises(InputError, match=r"none\.parquet: the file holds no records"):
        ingest_file(home, none)
    words = tmp_path / "words.parquet"
    con.execute("COPY (SELECT * FROM (VALUES ('1', 'x'), ('two', 'y')) t(n, s)) TO ? (FORMAT parquet)", [str(words)])
    with pytest.raises(InputError, match=r"words\.parquet: column 'n': cannot convert to INTEGER"):
        ingest_file(home, words, IngestOptions(types={"s": "VARCHAR", "n": "INTEGER"}))
    assert_nothing_left(home)
