"""Reading CSV files as people produce them: bytes in, encodings, delimiters, headers,
dates, numbers and booleans out."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaddesk.domain import csv_format as fmt
from leaddesk.domain.csv_format import DateOrder

# --- encodings --------------------------------------------------------------------------------


def test_plain_ascii_and_utf8_are_utf8() -> None:
    assert fmt.detect_encoding([b"email,name\r\na@x.com,Ana\r\n"]) == "utf-8"
    assert fmt.detect_encoding(["nome,cidade\nJoão,São Paulo\n".encode()]) == "utf-8"


def test_byte_order_mark_is_utf8_sig() -> None:
    assert fmt.detect_encoding([b"\xef\xbb\xbfemail\r\na@x.com\r\n"]) == "utf-8-sig"


def test_windows_1252_accents_are_detected() -> None:
    # "Conceição;São Paulo" as Excel in Brazil saves it: ç = E7, ã = E3 (one byte each).
    data = b"Nome;Cidade\r\nConcei\xe7\xe3o;S\xe3o Paulo\r\n"
    assert fmt.detect_encoding([data]) == "cp1252"
    assert data.decode("cp1252").splitlines()[1] == "Conceição;São Paulo"


def test_an_accent_late_in_the_file_still_counts() -> None:
    """The whole file is scanned: a preview of the first block must not promise UTF-8
    when row 80,000 is Windows-1252."""
    blocks = [b"a,b\n" * 1000, b"x,\xe7\n"]
    assert fmt.detect_encoding(blocks) == "cp1252"


def test_a_utf8_character_split_between_blocks_is_still_utf8() -> None:
    data = "ação".encode()
    assert fmt.detect_encoding([data[:2], data[2:]]) == "utf-8"


def test_bytes_windows_1252_leaves_undefined_fall_back_to_latin1() -> None:
    assert fmt.detect_encoding([b"a,\x81\xe7\n"]) == "latin-1"


def test_encoding_names_as_users_type_them() -> None:
    assert fmt.encoding_name("UTF8") == "utf-8"
    assert fmt.encoding_name("windows-1252") == "cp1252"
    assert fmt.encoding_name("latin1") == "latin-1"
    with pytest.raises(LookupError):
        fmt.encoding_name("klingon")


# --- delimiters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("email,name,city\na@x.com,Ana,Lisboa\nb@x.com,Bo,Porto\n", ","),
        ("email;name;revenue\na@x.com;Ana;1.234,56\nb@x.com;Bo;7,5\n", ";"),
        ("email\tname\tcity\na@x.com\tAna\tLisboa\n", "\t"),
        ("email|name\na@x.com|Ana\n", "|"),
        # The commas are inside quotes: the semicolon is the delimiter.
        ('email;note\na@x.com;"hello, world, again"\nb@x.com;"x, y"\n', ";"),
        ("email\na@x.com\n", ","),
    ],
)
def test_delimiter_detection(sample: str, expected: str) -> None:
    assert fmt.detect_delimiter(sample) == expected


def test_a_cut_sample_does_not_confuse_the_delimiter() -> None:
    sample = "a;b;c\n1;2;3\n4;5;6\n7;8"  # the last record is cut mid-way
    assert fmt.detect_delimiter(sample) == ";"


def test_delimiter_words() -> None:
    assert fmt.delimiter_from_text("tab") == "\t"
    assert fmt.delimiter_from_text("\\t") == "\t"
    assert fmt.delimiter_from_text(";") == ";"
    assert fmt.delimiter_from_text("semicolon") == ";"
    with pytest.raises(ValueError):
        fmt.delimiter_from_text(",,")


# --- records and their line numbers -----------------------------------------------------------


def test_quoted_newlines_keep_physical_line_numbers() -> None:
    text = 'email,note\r\na@x.com,"line one\r\nline two"\r\nb@x.com,"x; y, z"\r\n\r\nc@x.com,ok\r\n'
    records = list(fmt.read_records(io.StringIO(text, newline=""), ","))
    assert [(r.line, r.cells) for r in records] == [
        (1, ["email", "note"]),
        (2, ["a@x.com", "line one\r\nline two"]),
        (4, ["b@x.com", "x; y, z"]),
        (5, []),
        (6, ["c@x.com", "ok"]),
    ]


def test_blank_rows() -> None:
    assert fmt.is_blank([])
    assert fmt.is_blank(["", "  ", "\t"])
    assert not fmt.is_blank(["", "x"])


def test_duplicate_and_empty_headers_get_distinct_names() -> None:
    assert fmt.dedupe_headers(["\ufeffemail", "Nome", "Nome", " ", ""]) == [
        "email",
        "Nome",
        "Nome (2)",
        "column",
        "column (2)",
    ]


# --- header guesses ---------------------------------------------------------------------------


def test_headers_normalise_accents_case_spaces_and_punctuation() -> None:
    assert fmt.normalise_header("E-mail") == "email"
    assert fmt.normalise_header(" País ") == "pais"
    assert fmt.normalise_header("Funcionários") == "funcionarios"
    assert fmt.normalise_header("First_Name") == "firstname"
    assert fmt.normalise_header("\ufeffEMAIL") == "email"


def _guess(headers: list[str], kind: str) -> dict[str, str | None]:
    return {g.header: g.field for g in fmt.guess_mapping(headers, kind)}


def test_portuguese_contact_headers() -> None:
    guessed = _guess(
        ["E-mail", "Nome", "Sobrenome", "Cargo", "Empresa", "País", "Telefone", "Cidade", "Idade"],
        "contacts",
    )
    assert guessed == {
        "E-mail": "email",
        "Nome": "first_name",
        "Sobrenome": "last_name",
        "Cargo": "job_title",
        "Empresa": "account",
        "País": "country",
        "Telefone": "phone",
        "Cidade": "city",
        "Idade": "age",
    }


def test_spanish_contact_headers() -> None:
    guessed = _guess(
        ["Correo electrónico", "Nombre", "Apellidos", "Puesto", "Teléfono", "Ciudad", "Cliente"],
        "contacts",
    )
    assert guessed == {
        "Correo electrónico": "email",
        "Nombre": "first_name",
        "Apellidos": "last_name",
        "Puesto": "job_title",
        "Teléfono": "phone",
        "Ciudad": "city",
        "Cliente": "is_customer",
    }


def test_account_headers_in_portuguese() -> None:
    guessed = _guess(
        ["Empresa", "Site", "Setor", "Funcionários", "Faturamento", "País"], "accounts"
    )
    assert guessed == {
        "Empresa": "name",
        "Site": "domain",
        "Setor": "industry",
        "Funcionários": "employees",
        "Faturamento": "annual_revenue",
        "País": "country",
    }


def test_unknown_headers_are_not_guessed() -> None:
    assert _guess(["email", "Cor favorita"], "contacts")["Cor favorita"] is None


def test_exact_names_win_over_synonyms_and_each_field_goes_to_one_column() -> None:
    # "company" is a synonym of "name" for accounts, but the exact "name" column wins.
    assert _guess(["company", "name"], "accounts") == {"company": None, "name": "name"}
    # Two columns that both mean first_name: only the first gets it.
    assert _guess(["Nome", "Nombre"], "contacts") == {"Nome": "first_name", "Nombre": None}


def test_activity_and_score_headers() -> None:
    assert _guess(["E-mail", "Tipo", "Data", "url"], "activities") == {
        "E-mail": "email",
        "Tipo": "type",
        "Data": "occurred_at",
        "url": None,
    }
    assert _guess(["email", "model", "score", "updated_at"], "scores") == {
        "email": "email",
        "model": "model",
        "score": "score",
        "updated_at": "updated_at",
    }


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22", datetime(2026, 11, 22)),
        ("2026-11-22T14:05", datetime(2026, 11, 22, 14, 5)),
        ("2026-11-22 14:05:33.250", datetime(2026, 11, 22, 14, 5, 33, 250000)),
        ("22/11/2026 14:05", datetime(2026, 11, 22, 14, 5)),
        ("22/11/2026", datetime(2026, 11, 22)),
        ("22.11.2026", datetime(2026, 11, 22)),
        ("22-11-2026 14:05:09", datetime(2026, 11, 22, 14, 5, 9)),
        ("3/4/26", datetime(2026, 4, 3)),
        ("22/11/2026 2:05 PM", datetime(2026, 11, 22, 14, 5)),
        ("22/11/2026 12:05 am", datetime(2026, 11, 22, 0, 5)),
    ],
)
def test_day_first_and_iso_dates(text: str, expected: datetime) -> None:
    assert fmt.parse_datetime(text, DateOrder.DAY_FIRST) == expected


def test_iso_offsets_are_kept_and_converted_to_utc() -> None:
    parsed = fmt.parse_datetime("2026-11-22T14:05:00Z")
    assert parsed == datetime(2026, 11, 22, 14, 5, tzinfo=UTC)
    assert fmt.to_utc_naive(parsed) == datetime(2026, 11, 22, 14, 5)
    later = fmt.parse_datetime("2026-11-22T14:05:00-03:00")
    assert fmt.to_utc_naive(later) == datetime(2026, 11, 22, 17, 5)


def test_naive_times_are_local_time() -> None:
    lisbon_summer = timezone(timedelta(hours=1))
    naive = fmt.parse_datetime("22/07/2026 14:05")
    assert fmt.to_utc_naive(naive, lisbon_summer) == datetime(2026, 7, 22, 13, 5)


def test_month_first_dates() -> None:
    assert fmt.parse_datetime("11/22/2026 14:05", DateOrder.MONTH_FIRST) == datetime(
        2026, 11, 22, 14, 5
    )


@pytest.mark.parametrize("text", ["", "tomorrow", "31/02/2026", "2026-13-01", "22/11/2026 25:00"])
def test_bad_dates_are_refused_with_a_readable_reason(text: str) -> None:
    with pytest.raises(fmt.DateParseError) as caught:
        fmt.parse_datetime(text)
    assert str(caught.value)


def test_month_first_reading_is_reported_in_the_error() -> None:
    with pytest.raises(fmt.DateParseError, match="month/day/year"):
        fmt.parse_datetime("22/11/2026", DateOrder.MONTH_FIRST)


def test_date_order_detection() -> None:
    assert fmt.detect_date_order(["22/11/2026", "03/04/2026"]) == (DateOrder.DAY_FIRST, True)
    assert fmt.detect_date_order(["11/22/2026", "03/04/2026"]) == (DateOrder.MONTH_FIRST, True)
    assert fmt.detect_date_order(["2026-11-22"]) == (DateOrder.DAY_FIRST, False)
    # Unsure (both readings possible): day first, the habit of the desk's users.
    assert fmt.detect_date_order(["03/04/2026"])[0] is DateOrder.DAY_FIRST


def test_date_interpretation_is_described_for_the_preview() -> None:
    text = fmt.describe_date_order(DateOrder.DAY_FIRST)
    assert "22/11/2026 14:05 is 22 November 2026" in text
    assert "month first" in fmt.describe_date_order(DateOrder.MONTH_FIRST)
    assert "ISO 8601" in fmt.describe_date_order(DateOrder.DAY_FIRST, numeric_seen=False)


def test_exported_times_read_back_exactly() -> None:
    moment = datetime(2026, 11, 22, 14, 5, 9, 123456)
    text = fmt.format_datetime(moment)
    assert text == "2026-11-22T14:05:09.123456Z"
    assert fmt.to_utc_naive(fmt.parse_datetime(text)) == moment
    assert fmt.format_datetime(datetime(2026, 1, 2, 3, 4)) == "2026-01-02T03:04:00Z"


# --- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "decimal_comma"),
    [
        ("1234", 1234.0, None),
        ("1.234,56", 1234.56, None),
        ("1,234.56", 1234.56, None),
        ("1234,5", 1234.5, None),
        ("1234.5", 1234.5, None),
        ("1 234,56", 1234.56, None),
        ("1\u00a0234", 1234.0, None),
        ("R$ 1.234,00", 1234.0, None),
        ("€1,234.50", 1234.5, None),
        ("-12,5", -12.5, None),
        ("(12)", -12.0, None),
        ("1.234.567", 1234567.0, None),
        ("1,234,567", 1234567.0, None),
        ("1,500", 1500.0, None),  # no decimal-comma hint: thousands
        ("1,500", 1.5, True),  # a semicolon file: decimal comma
        ("1.500", 1.5, None),
        ("1.500", 1500.0, True),
        (",5", 0.5, None),
        ("1e6", 1000000.0, None),
    ],
)
def test_numbers(text: str, expected: float, decimal_comma: bool | None) -> None:
    assert fmt.parse_number(text, decimal_comma=decimal_comma) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["abc", "", "1.2.3,4,5", "12a", "1,23,4"])
def test_not_numbers(text: str) -> None:
    with pytest.raises(fmt.NumberParseError):
        fmt.parse_number(text)


def test_whole_numbers() -> None:
    assert fmt.parse_integer("1.200", decimal_comma=True) == 1200
    assert fmt.parse_integer("12,0") == 12
    with pytest.raises(fmt.NumberParseError):
        fmt.parse_integer("12,5")


# --- booleans -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["true", "TRUE", "yes", "Sim", "sí", "Si", "1", "y", "x", "X", "verdadeiro"]
)
def test_true(text: str) -> None:
    assert fmt.parse_bool(text) is True


@pytest.mark.parametrize("text", ["false", "No", "não", "NAO", "0", "n", "falso"])
def test_false(text: str) -> None:
    assert fmt.parse_bool(text) is False


def test_empty_boolean_is_none_and_nonsense_is_refused() -> None:
    assert fmt.parse_bool("  ") is None
    with pytest.raises(ValueError, match="yes or no"):
        fmt.parse_bool("maybe")


# --- formula injection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ['=HYPERLINK("http://evil")', "+55 11 9999", "-2+3", "@SUM(A1)", "\tx", "\rx"]
)
def test_formula_cells_are_neutralised(text: str) -> None:
    safe = fmt.neutralise_formula(text)
    assert safe == "'" + text
    assert fmt.restore_neutralised(safe) == text


def test_harmless_cells_are_untouched() -> None:
    for text in ("Ana", "", "12", "'quoted", "a=b"):
        assert fmt.neutralise_formula(text) == text
        assert fmt.restore_neutralised(text) == text


@given(st.text(max_size=30))
def test_neutralising_then_restoring_is_exact(text: str) -> None:
    safe = fmt.neutralise_formula(text)
    assert not safe.startswith(fmt.FORMULA_TRIGGERS)
    assert fmt.restore_neutralised(safe) == text


@given(st.text(alphabet="'=+-@\t\rab 1", max_size=8))
def test_restoring_undoes_exactly_what_neutralising_does(text: str) -> None:
    """The quick path for the common cell ("'+55 ...") says what the definition says."""
    undone = fmt.neutralise_formula(text[1:]) == text and text.startswith("'")
    assert fmt.restore_neutralised(text) == (text[1:] if undone else text)


def test_cells_are_formatted_as_the_import_reads_them() -> None:
    assert fmt.format_cell(None) == ""
    assert fmt.format_cell(True) == "true"
    assert fmt.format_cell(False) == "false"
    assert fmt.format_cell(3.0) == "3"
    assert fmt.format_cell(2.5) == "2.5"
    assert fmt.format_cell(["a", "b"]) == '["a", "b"]'
    assert fmt.format_cell(datetime(2026, 1, 1)) == "2026-01-01T00:00:00Z"


# --- the import's fast paths give exactly the full path's answers ------------------------------

TRICKY_DATES = [
    "2026-11-22T14:05:00Z",
    "2026-11-22T14:05:00.123456Z",
    "2026-11-22T14:05:00.5Z",
    "2026-11-22 14:05:00Z",
    "2026-11-22T14:05Z",
    "2026-11-22T14Z",
    "2026-11-22T14:05:00+02:00",
    "2026-11-22T14:05:00-03:30",
    "2026-11-22T14:05:00+00:00",
    "2026-11-22T14:05:00",
    "2026-11-22 14:05",
    "2026-11-22",
    "2026-02-29T10:00:00Z",
    "2028-02-29T10:00:00Z",
    "2026-13-01T10:00:00Z",
    "2026-11-22T24:00:00Z",
    "2026-11-22T14:05:00ZZ",
    "2026-11-22T14:05:00Z ",
    " 2026-11-22T14:05:00Z",
    "2026-11-22\t",
    "2026-W47-1T10:00:00Z",
    "2026-W47",
    "20261122",
    "20261122T140500Z",
    "١٢٣٤-11-22T14:05:00Z",
    "22/11/2026 14:05",
    "11/22/2026 2:05 PM",
    "22.11.26",
    "31/02/2026",
    "yesterday",
    "2026-",
    "2026-x",
    "-",
]


def _full_path(text: str, order: DateOrder) -> datetime | str:
    try:
        return fmt.to_utc_naive(fmt.parse_datetime(text, order))
    except fmt.DateParseError as exc:
        return f"error: {exc}"


def _fast_path(text: str, order: DateOrder) -> datetime | str:
    try:
        return fmt.parse_datetime_utc(text, order)
    except fmt.DateParseError as exc:
        return f"error: {exc}"


@pytest.mark.parametrize("order", list(DateOrder))
@pytest.mark.parametrize("text", TRICKY_DATES)
def test_parse_datetime_utc_is_the_full_path(text: str, order: DateOrder) -> None:
    fast = _fast_path(text, order)
    assert fast == _full_path(text, order)
    if isinstance(fast, datetime):
        assert fast.tzinfo is None


@given(st.datetimes(timezones=st.just(UTC)))
def test_parse_datetime_utc_reads_exported_times_as_the_full_path(moment: datetime) -> None:
    text = fmt.format_datetime(moment)
    assert _fast_path(text, DateOrder.DAY_FIRST) == _full_path(text, DateOrder.DAY_FIRST)
    assert fmt.parse_datetime_utc(text) == moment.replace(tzinfo=None)


def test_numbered_rows_are_read_records_without_objects() -> None:
    text = 'a,b\r\n1,"x\r\ny"\r\n\r\n2,z\r\n'
    numbered = list(fmt.numbered_rows(fmt.csv_reader(io.StringIO(text, newline=""), ",")))
    records = list(fmt.read_records(io.StringIO(text, newline=""), ","))
    assert numbered == [(r.line, r.cells) for r in records]
    assert [line for line, _cells in numbered] == [1, 2, 4, 5]


def test_every_byte_windows_1252_leaves_undefined_is_seen() -> None:
    for byte in (0x81, 0x8D, 0x8F, 0x90, 0x9D):
        assert fmt.detect_encoding([b"a,b\n\xe7" + bytes([byte]) + b"\n"]) == "latin-1"
    assert fmt.detect_encoding([b"a,b\n\xe7\x80\n\x9f\n"]) == "cp1252"
