"""CSV cells are defused against formula injection; downloads stream."""

import pytest

from workshop.csv_export import ROWS_PER_CHUNK, csv_response, safe_cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+31 6 1234", "'+31 6 1234"),
        ("-rm", "'-rm"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ada = great", "Ada = great"),
        ("", ""),
        (None, ""),
        (-3, "-3"),
        (2.5, "2.5"),
        (True, "True"),
    ],
)
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


def test_csv_response_streams_escaped_rows():
    response = csv_response(
        filename="x.csv", header=["a", "b"], rows=iter([["=x", 1], ["ok", None]])
    )

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    assert b"".join(response.streaming_content) == b"a,b\r\n'=x,1\r\nok,\r\n"


def test_csv_response_streams_rows_in_chunks():
    rows = ([i] for i in range(2 * ROWS_PER_CHUNK + 1))

    chunks = list(csv_response(filename="x.csv", header=["n"], rows=rows).streaming_content)

    # The header rides with the first chunk; the last row is flushed on its own.
    assert [chunk.count(b"\r\n") for chunk in chunks] == [ROWS_PER_CHUNK, ROWS_PER_CHUNK, 2]
    assert b"".join(chunks).split(b"\r\n")[-2] == str(2 * ROWS_PER_CHUNK).encode()
