"""CSV files as people actually produce them: sniffing, header guesses and cell parsing.

Spreadsheets arrive from Excel in Brazil, Spain and Portugal (semicolons, Windows-1252,
comma decimals, day-first dates), from Google Sheets (UTF-8, commas) and from other CRMs
(UTF-8 with a byte-order mark, ISO dates). Everything here is pure so the wizard's live
preview, the command line and the import itself read a file the same way, and so it can
be tested byte by byte without a database.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from enum import Enum
from typing import Any

RECORD_TYPES = ("accounts", "contacts", "leads", "activities", "scores")

# --- encodings ------------------------------------------------------------------------------

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
CP1252 = "cp1252"
LATIN1 = "latin-1"

ENCODING_LABELS = {
    UTF8: "UTF-8",
    UTF8_BOM: "UTF-8 with BOM",
    CP1252: "Windows-1252",
    LATIN1: "Latin-1",
}


def detect_encoding(blocks: Iterable[bytes]) -> str:
    """UTF-8 (with or without BOM) when every byte decodes strictly, else Windows-1252.

    Strict UTF-8 almost never succeeds by accident on Windows-1252 text containing
    accents (``ç`` is the lone byte E7 there), so a clean decode is strong evidence. The
    caller passes the whole file in blocks: a Latin-1 accent in row 80,000 must not
    surprise the import after the preview said UTF-8. Bytes Windows-1252 leaves
    undefined fall back to Latin-1, which decodes anything.
    """
    decoder = codecs.getincrementaldecoder(UTF8)()
    utf8_ok = cp1252_ok = True
    bom = False
    for n, block in enumerate(blocks):
        if n == 0:
            bom = block.startswith(codecs.BOM_UTF8)
        if utf8_ok:
            try:
                decoder.decode(block, final=False)
            except UnicodeDecodeError:
                utf8_ok = False
        if cp1252_ok and _cp1252_undefined(block):
            cp1252_ok = False
        if not utf8_ok and not cp1252_ok:
            break
    if utf8_ok:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False
    if utf8_ok:
        return UTF8_BOM if bom else UTF8
    return CP1252 if cp1252_ok else LATIN1


_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")


def _cp1252_undefined(block: bytes) -> bool:
    """Whether the block has a byte Windows-1252 leaves undefined. Five ``in`` tests
    (memchr speed) rather than a regular expression: the whole file is checked, and a
    character-class search over a 100 MB file costs a second."""
    return any(byte in block for byte in _CP1252_UNDEFINED)


def encoding_name(value: str) -> str:
    """The canonical codec name for what a user typed (``latin1``, ``UTF8``, ``windows-1252``).

    Raises LookupError for an unknown encoding.
    """
    name = codecs.lookup(value.strip()).name
    return {"utf-8": UTF8, "utf-8-sig": UTF8_BOM, "cp1252": CP1252, "iso8859-1": LATIN1}.get(
        name, name
    )


# --- delimiters -----------------------------------------------------------------------------

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_LABELS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
_DELIMITER_WORDS = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "\\t": "\t",
    "pipe": "|",
    "bar": "|",
}


def delimiter_from_text(text: str) -> str:
    """What a user types on a command line (``';'``, ``tab``, ``\\t``) → one character."""
    if text in _DELIMITER_WORDS.values():
        return text
    word = _DELIMITER_WORDS.get(text.strip().lower())
    if word is not None:
        return word
    if len(text) == 1:
        return text
    raise ValueError(f"{text!r} is not a delimiter (use , ; tab or |)")


def detect_delimiter(sample: str, *, max_records: int = 50) -> str:
    """The candidate that splits the first records into the same, largest number of cells.

    Parsing with each candidate (rather than counting characters) ignores delimiters
    inside quoted fields, which is where a semicolon file's commas usually are. Comma
    wins ties and is the answer for a one-column file.
    """
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample cut the last record short
    text = "".join(lines)
    best = ","
    best_score = (0.0, 0)
    for candidate in DELIMITERS:
        try:
            records = []
            for record in csv.reader(io.StringIO(text, newline=""), delimiter=candidate):
                if record:
                    records.append(record)
                if len(records) >= max_records:
                    break
        except csv.Error:
            continue
        counts = [len(r) for r in records]
        if not counts:
            continue
        width, freq = Counter(counts).most_common(1)[0]
        if width < 2:
            continue
        score = (freq / len(counts), width)
        if score > best_score:
            best, best_score = candidate, score
    return best


# --- headers --------------------------------------------------------------------------------


def normalise_header(text: str) -> str:
    """``E-mail``, ``e_mail`` and ``EMAIL `` are one header: accents, case, spaces and
    punctuation are what spreadsheets vary, never the meaning."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\ufeff", ""))
    return "".join(
        ch for ch in decomposed.casefold() if ch.isalnum() and not unicodedata.combining(ch)
    )


_PLACE = {
    "country": ("country", "pais", "nation", "nacao", "countrycode"),
    "state": ("state", "province", "region", "estado", "provincia", "uf", "distrito", "county"),
    "city": ("city", "town", "cidade", "ciudad", "municipio", "localidade", "localidad"),
}
_EMAIL = (
    "email",
    "mail",
    "emailaddress",
    "correo",
    "correoelectronico",
    "correio",
    "correioeletronico",
    "correioelectronico",
    "enderecodeemail",
    "direcciondecorreo",
    "contactemail",
)
_ACCOUNT_NAME = (
    "account",
    "accountname",
    "company",
    "companyname",
    "organisation",
    "organization",
    "organizacion",
    "organizacao",
    "org",
    "empresa",
    "nomedaempresa",
    "nombredelaempresa",
    "compania",
    "companhia",
    "conta",
    "cuenta",
    "razaosocial",
    "razonsocial",
)
_DOMAIN = ("domain", "website", "site", "web", "url", "dominio", "sitioweb", "paginaweb", "www")
_SOURCE = ("source", "leadsource", "origem", "origen", "fonte", "fuente", "canal", "channel")

SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "contacts": {
        "email": _EMAIL,
        "first_name": (
            "firstname",
            "first",
            "givenname",
            "forename",
            "nome",
            "primeironome",
            "nombre",
            "name",
            "primernombre",
        ),
        "last_name": (
            "lastname",
            "last",
            "surname",
            "familyname",
            "sobrenome",
            "apelido",
            "apellido",
            "apellidos",
            "ultimonome",
        ),
        "phone": (
            "phone",
            "phonenumber",
            "telephone",
            "tel",
            "mobile",
            "cell",
            "cellphone",
            "telefone",
            "telemovel",
            "celular",
            "telefono",
            "movil",
            "fone",
            "whatsapp",
        ),
        "job_title": (
            "jobtitle",
            "title",
            "position",
            "jobposition",
            "cargo",
            "funcao",
            "puesto",
            "titulo",
            "profissao",
            "profesion",
            "ocupacao",
        ),
        "department": ("department", "dept", "departamento", "area", "setor", "sector"),
        "buying_role": (
            "buyingrole",
            "role",
            "papel",
            "papeldecompra",
            "rol",
            "roldecompra",
            "funcaonacompra",
        ),
        **_PLACE,
        "age": ("age", "idade", "edad"),
        "source": _SOURCE,
        "is_employee": (
            "isemployee",
            "employee",
            "ehfuncionario",
            "esempleado",
            "empleado",
            "colaboradorinterno",
        ),
        "is_customer": (
            "iscustomer",
            "customer",
            "client",
            "cliente",
            "ecliente",
            "escliente",
            "ehcliente",
        ),
        "email_subscribed": (
            "emailsubscribed",
            "subscribed",
            "optin",
            "emailoptin",
            "newsletter",
            "inscrito",
            "assinante",
            "suscrito",
            "aceitaemail",
            "aceptaemail",
        ),
        "account": _ACCOUNT_NAME,
        "account_domain": ("accountdomain", "companydomain", "companywebsite", *_DOMAIN),
    },
    "accounts": {
        "name": ("name", "nome", "nombre", *_ACCOUNT_NAME),
        "domain": _DOMAIN,
        "industry": (
            "industry",
            "sector",
            "setor",
            "segmento",
            "segment",
            "industria",
            "ramo",
            "vertical",
            "ramodeatividade",
        ),
        "employees": (
            "employees",
            "employeecount",
            "numberofemployees",
            "noofemployees",
            "staff",
            "headcount",
            "companysize",
            "size",
            "funcionarios",
            "numerodefuncionarios",
            "nfuncionarios",
            "colaboradores",
            "empregados",
            "empleados",
            "numerodeempleados",
            "trabajadores",
            "tamanho",
        ),
        "annual_revenue": (
            "annualrevenue",
            "revenue",
            "turnover",
            "sales",
            "receita",
            "receitaanual",
            "faturamento",
            "faturacao",
            "faturamentoanual",
            "ingresos",
            "ingresosanuales",
            "facturacion",
            "ventas",
        ),
        **_PLACE,
    },
    "leads": {
        "id": ("id", "leadid"),
        "email": _EMAIL,
        "account": _ACCOUNT_NAME,
        "account_domain": ("accountdomain", "companydomain", *_DOMAIN),
        "topic": (
            "topic",
            "campaign",
            "subject",
            "interest",
            "product",
            "assunto",
            "tema",
            "topico",
            "interesse",
            "interes",
            "campanha",
            "campana",
            "produto",
            "producto",
        ),
        "source": _SOURCE,
        "owner": (
            "owner",
            "assignedto",
            "salesperson",
            "rep",
            "salesrep",
            "responsavel",
            "vendedor",
            "propietario",
            "dono",
            "comercial",
            "proprietario",
        ),
        "stage": ("stage", "etapa", "fase", "estagio"),
        "status": ("status", "situacao", "estado"),
        "score": ("score", "pontuacao", "puntuacion", "pontos", "puntos"),
    },
    "activities": {
        "email": _EMAIL,
        "type": (
            "type",
            "activitytype",
            "activity",
            "event",
            "eventtype",
            "tipo",
            "tipodeatividade",
            "tipodeactividad",
            "atividade",
            "actividad",
            "evento",
            "acao",
            "accion",
        ),
        "occurred_at": (
            "occurredat",
            "occurred",
            "date",
            "datetime",
            "time",
            "timestamp",
            "when",
            "at",
            "data",
            "datahora",
            "dataehora",
            "fecha",
            "fechahora",
            "hora",
            "quando",
            "cuando",
        ),
        "lead_topic": ("leadtopic", "topicodolead", "temadellead"),
    },
    "scores": {
        "email": _EMAIL,
        "lead_id": ("leadid", "lead", "id"),
        "model": (
            "model",
            "modelname",
            "name",
            "scoremodel",
            "scorename",
            "modelo",
            "nome",
            "nombre",
            "score name",
        ),
        "score": ("score", "value", "pontuacao", "puntuacion", "nota", "valor", "points"),
        "updated_at": (
            "updatedat",
            "updated",
            "date",
            "asof",
            "timestamp",
            "lastupdated",
            "atualizadoem",
            "actualizado",
            "actualizadoen",
            "data",
            "fecha",
        ),
    },
}

TARGET_FIELDS: dict[str, tuple[str, ...]] = {kind: tuple(s) for kind, s in SYNONYMS.items()}
"""The fields each record type's columns can be mapped to, in the wizard's order."""

READ_ONLY_FIELDS: dict[str, frozenset[str]] = {
    "leads": frozenset({"id", "stage", "status", "score"}),
}
"""Columns an export writes for reading only; an import recognises and ignores them,
rather than keeping them as custom fields, so export-then-import changes nothing."""

REQUIRED_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "accounts": (("name", "domain"),),
    "contacts": (("email",),),
    "leads": (("email", "account", "account_domain"),),
    "activities": (("email",), ("type",), ("occurred_at",)),
    "scores": (("email", "lead_id"), ("model",), ("score",)),
}
"""Per record type, groups of fields of which at least one must be mapped."""


@dataclass(frozen=True)
class ColumnGuess:
    header: str
    field: str | None  # None: no target field fits; the column becomes a custom field


def guess_mapping(headers: Sequence[str], record_type: str) -> list[ColumnGuess]:
    """Each header's likely field, by exact name first and synonyms second; a field is
    given to one column only (the first that claims it), so two ``Nome`` columns never
    both become ``first_name``."""
    synonyms = SYNONYMS[record_type]
    exact = {normalise_header(f): f for f in synonyms}
    by_synonym: dict[str, str] = {}
    for target, words in synonyms.items():
        for word in words:
            by_synonym.setdefault(normalise_header(word), target)
    taken: set[str] = set()
    keys = [normalise_header(h) for h in headers]
    chosen: list[str | None] = [None] * len(headers)
    # Exact field names first, so a file with both ``name`` and ``company`` columns maps
    # ``name`` to ``name`` even though ``company`` is one of its synonyms.
    for table in (exact, by_synonym):
        for i, key in enumerate(keys):
            found = table.get(key)
            if chosen[i] is None and found is not None and found not in taken:
                chosen[i] = found
                taken.add(found)
    return [ColumnGuess(h, f) for h, f in zip(headers, chosen, strict=True)]


# --- dates ----------------------------------------------------------------------------------


class DateOrder(Enum):
    DAY_FIRST = "day_first"
    MONTH_FIRST = "month_first"


_NUMERIC_DATE = re.compile(
    r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})"
    r"(?:[ T,]+(\d{1,2})[:h](\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?\s*([AaPp]\.?[Mm]\.?)?)?$"
)


class DateParseError(ValueError):
    pass


def detect_date_order(values: Iterable[str]) -> tuple[DateOrder, bool]:
    """Day-first unless the values prove month-first (a second part above 12 and no first
    part above 12). Returns the order and whether any value was ambiguous between both,
    so the preview can say which reading it chose."""
    day_evidence = month_evidence = ambiguous = False
    for value in values:
        match = _NUMERIC_DATE.match(value.strip())
        if not match:
            continue
        first, second = int(match.group(1)), int(match.group(2))
        if first > 12:
            day_evidence = True
        elif second > 12:
            month_evidence = True
        elif first != second:
            ambiguous = True
    if month_evidence and not day_evidence:
        return DateOrder.MONTH_FIRST, ambiguous
    return DateOrder.DAY_FIRST, ambiguous


def describe_date_order(order: DateOrder, *, numeric_seen: bool = True) -> str:
    """The sentence the preview shows so the user can catch a wrong reading."""
    zone = "times without a zone are taken as local time"
    if not numeric_seen:
        return f"dates are ISO 8601 (2026-11-22 14:05); {zone}"
    if order is DateOrder.MONTH_FIRST:
        return f"dates read month first: 11/22/2026 14:05 is 22 November 2026, 14:05; {zone}"
    return f"dates read day first: 22/11/2026 14:05 is 22 November 2026, 14:05; {zone}"


def parse_datetime(text: str, order: DateOrder = DateOrder.DAY_FIRST) -> datetime:
    """A cell → datetime. ISO 8601 keeps its offset (aware result); numeric day/month
    forms are naive. Raises DateParseError with a message fit for the user."""
    value = text.strip()
    if not value:
        raise DateParseError("a date is required")
    if value[4:5] == "-" and value[:4].isdigit():
        try:
            # Python 3.11 reads "Z", offsets, "T" or a space, fractions and dates alone.
            return datetime.fromisoformat(value)
        except ValueError:
            raise DateParseError(f"{value!r} is not a valid date") from None
    match = _NUMERIC_DATE.match(value)
    if not match:
        raise DateParseError(f"{value!r} is not a date (use 2026-11-22 or 22/11/2026 14:05)")
    first, second, year_text, hour, minute, sec, frac, ampm = match.groups()
    day, month = (int(first), int(second))
    if order is DateOrder.MONTH_FIRST:
        day, month = month, day
    year = int(year_text)
    if len(year_text) == 2:
        year += 2000 if year < 70 else 1900
    h = int(hour) if hour else 0
    if ampm:
        marker = ampm[0].lower()
        if not 1 <= h <= 12:
            raise DateParseError(f"{value!r} is not a valid time")
        h = h % 12 + (12 if marker == "p" else 0)
    micro = int((frac or "0").ljust(6, "0")) if frac else 0
    try:
        return datetime(year, month, day, h, int(minute or 0), int(sec or 0), micro)
    except ValueError:
        reading = "day/month/year" if order is DateOrder.DAY_FIRST else "month/day/year"
        raise DateParseError(f"{value!r} is not a valid date read as {reading}") from None


def parse_datetime_utc(text: str, order: DateOrder = DateOrder.DAY_FIRST) -> datetime:
    """``to_utc_naive(parse_datetime(text, order))``, the way an import stores a date cell.

    Exports and most CRMs write ISO 8601 (``2026-11-22T14:05:00Z``), and an activity file
    has a million of them: a clean ISO cell goes straight to ``datetime.fromisoformat``
    without the checks and layers in between. Anything else, and any ISO cell
    ``fromisoformat`` refuses, takes the full path, which words the error, so the result
    or the error is always exactly the full path's.
    """
    if text[4:5] == "-" and text[:4].isdigit() and not text[-1].isspace():
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if value.tzinfo is UTC:
                # What ``to_utc_naive`` returns, built without ``replace``'s keyword
                # parsing (a microsecond a call, a second a million rows).
                return datetime.combine(value.date(), value.time())
            return to_utc_naive(value)
    return to_utc_naive(parse_datetime(text, order))


def to_utc_naive(value: datetime, local_zone: timezone | None = None) -> datetime:
    """Naive UTC as the database stores it; a naive value is local time (the zone given,
    else the machine's), as a person typing dates into a spreadsheet means it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=local_zone) if local_zone else value.astimezone()
    elif value.tzinfo is UTC:
        return value.replace(tzinfo=None)
    return value.astimezone(UTC).replace(tzinfo=None)


def format_datetime(value: datetime) -> str:
    """Export form: ISO 8601 in UTC with ``Z``, microseconds only when there are any, so
    the import reads back exactly the stored instant."""
    text = value.replace(tzinfo=None).isoformat(timespec="auto")
    return text + "Z"


# --- numbers --------------------------------------------------------------------------------

_CURRENCY = re.compile(r"^(?:R\$|US\$|\$|€|£|EUR|USD|BRL)\s*|\s*(?:R\$|€|£|EUR|USD|BRL)$")
_SCIENTIFIC = re.compile(r"\d+(?:\.\d+)?[eE][+-]?\d+")
_GROUPED = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")


class NumberParseError(ValueError):
    pass


def parse_number(text: str, *, decimal_comma: bool | None = None) -> float:
    """``1.234,56``, ``1,234.56``, ``1234,5``, ``1 234``, ``R$ 1.234`` → a float.

    With both separators the last one is the decimal point. With one kind only, a single
    separator followed by exactly three digits is ambiguous; ``decimal_comma`` settles it
    (semicolon files come from comma-decimal locales), and without it a comma there reads
    as thousands (``1,500`` employees) and a dot as a decimal point.
    """
    value = text.strip().replace("\u00a0", " ").replace("\u202f", " ")
    value = _CURRENCY.sub("", value).strip()
    negative = False
    if value.startswith("(") and value.endswith(")"):
        negative, value = True, value[1:-1].strip()
    if value.startswith(("-", "+")):
        negative, value = value[0] == "-", value[1:].strip()
    value = value.replace(" ", "").replace("'", "")
    if _SCIENTIFIC.fullmatch(value):
        return -float(value) if negative else float(value)
    if not value or not re.fullmatch(r"[\d.,]+", value) or not any(c.isdigit() for c in value):
        raise NumberParseError(f"{text.strip()!r} is not a number")
    dots, commas = value.count("."), value.count(",")
    if dots and commas:
        decimal = "," if value.rfind(",") > value.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        whole, _, frac = value.rpartition(decimal)
        if frac.count(thousands) or not _grouped(whole, thousands):
            raise NumberParseError(f"{text.strip()!r} is not a number")
        number = whole.replace(thousands, "") + "." + frac
    elif dots or commas:
        sep = "." if dots else ","
        parts = value.split(sep)
        if len(parts) > 2:
            if not _GROUPED.match(value):
                raise NumberParseError(f"{text.strip()!r} is not a number")
            number = value.replace(sep, "")
        else:
            head, tail = parts
            looks_grouped = len(tail) == 3 and 1 <= len(head) <= 3 and head != "0"
            if sep == ",":
                grouping = looks_grouped and decimal_comma is not True
            else:
                grouping = looks_grouped and decimal_comma is True
            if not head and not grouping:
                head = "0"
            number = head + tail if grouping else f"{head}.{tail}"
    else:
        number = value
    try:
        result = float(number)
    except ValueError:
        raise NumberParseError(f"{text.strip()!r} is not a number") from None
    return -result if negative else result


def _grouped(whole: str, sep: str) -> bool:
    if sep not in whole:
        return whole.isdigit()
    groups = whole.split(sep)
    return 1 <= len(groups[0]) <= 3 and all(len(g) == 3 and g.isdigit() for g in groups[1:])


def parse_integer(text: str, *, decimal_comma: bool | None = None) -> int:
    number = parse_number(text, decimal_comma=decimal_comma)
    if number != int(number):
        raise NumberParseError(f"{text.strip()!r} is not a whole number")
    return int(number)


# --- booleans -------------------------------------------------------------------------------

_TRUE = frozenset(
    {
        "true",
        "yes",
        "y",
        "1",
        "x",
        "sim",
        "s",
        "si",
        "sí",
        "t",
        "on",
        "verdadeiro",
        "verdadero",
        "v",
        "✓",
        "✔",
        "checked",
        "ja",
        "oui",
    }
)
_FALSE = frozenset(
    {"false", "no", "n", "0", "não", "nao", "f", "off", "falso", "unchecked", "nein", "non"}
)


def parse_bool(text: str) -> bool | None:
    """true/false, yes/no, sim/não, sí/no, 1/0, y/n, x → bool; empty → None.

    Raises ValueError for anything else rather than guessing, because a wrong
    ``is_employee`` silently excludes a lead from scoring.
    """
    value = text.strip().casefold()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{text.strip()!r} is not yes or no")


# --- cells as an export writes them ---------------------------------------------------------


def format_cell(value: object) -> str:
    """A stored value as CSV text (before formula neutralisation). Imports compare custom
    fields and properties in this form too, so a number stored as 5 and read back from a
    file as "5" is not a change."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# --- formula injection ----------------------------------------------------------------------

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(text: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``@SUM``,
    ``+cmd|...``) with ``'`` so it shows as text; see OWASP "CSV injection". A cell that
    already starts with ``'`` and a trigger gets one more, so the import's
    :func:`restore_neutralised` gives back exactly what was stored."""
    if text.startswith(FORMULA_TRIGGERS) or (
        len(text) > 1 and text[0] == "'" and text[1:].startswith(FORMULA_TRIGGERS)
    ):
        return "'" + text
    return text


def restore_neutralised(text: str) -> str:
    """Undo :func:`neutralise_formula`, so that exporting and importing again is exact."""
    if text[1:2] in _TRIGGER_CHARS and text[:1] == "'":
        return text[1:]  # the common case (a phone number, "'+55 ..."), said quickly
    if text.startswith("'") and neutralise_formula(text[1:]) == text:
        return text[1:]
    return text


_TRIGGER_CHARS = frozenset(FORMULA_TRIGGERS)


# --- reading records with their line numbers -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    line: int  # physical line in the file where the record starts (1-based)
    cells: list[str]


def csv_reader(lines: Iterable[str], delimiter: str) -> Any:
    """The csv module's reader as every import reads files (lenient about stray quotes,
    as spreadsheets write them)."""
    return csv.reader(lines, delimiter=delimiter, strict=False)


def read_records(lines: Iterable[str], delimiter: str) -> Iterable[Record]:
    """CSV records with the file line each starts on; a quoted cell spanning lines makes
    that differ from the record's index, and users fix files by line number."""
    for line, cells in numbered_rows(csv_reader(lines, delimiter)):
        yield Record(line, cells)


def numbered_rows(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` from a :func:`csv_reader`, the line being where each record
    starts: what :func:`read_records` gives, without an object per record, for the loop
    that reads a million-row file."""
    start = reader.line_num
    for cells in reader:
        yield start + 1, cells
        start = reader.line_num


def is_blank(cells: Sequence[str]) -> bool:
    return not any(cells) or not "".join(cells).strip()


def dedupe_headers(headers: Sequence[str]) -> list[str]:
    """Headers as keys: stripped, and a repeated header gets `` (2)``, `` (3)``…"""
    seen: Counter[str] = Counter()
    out = []
    for header in headers:
        name = header.replace("\ufeff", "").strip() or "column"
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def problem_text(problems: Mapping[str, str]) -> str:
    return "; ".join(f"column {col}: {why}" for col, why in problems.items())
