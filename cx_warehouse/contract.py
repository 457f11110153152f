"""The CIS export contract, read from the dbt sources file that defines it.

models/staging/cis/_cis__sources.yml is the single written copy of the
contract's file names, columns and rules; the preflight below, the staging
macro and the raw data-quality suite all read it.
"""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
SOURCES_YML = PROJECT_DIR / "models" / "staging" / "cis" / "_cis__sources.yml"


@dataclass(frozen=True)
class Column:
    name: str
    cis_type: str
    required: bool
    domain: tuple[str, ...] | None
    min: float | None
    max: float | None
    personal: bool = False  # meta personal_data: masked in rejected rows, never in a mart
    # meta may_be_absent: a column added to the contract later; a delivery
    # without it loads, every value empty (the column's meaning says what empty is)
    may_be_absent: bool = False


@dataclass(frozen=True)
class Export:
    name: str  # file name without .csv, e.g. raw_contacts
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    @property
    def file_name(self) -> str:
        """The single-CSV form's file name (the other forms: see `export_files`)."""
        return f"{self.name}.csv"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _cis_source(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return next(s for s in doc["sources"] if s["name"] == "cis")


@functools.cache
def intake_rule(key: str, path: Path = SOURCES_YML) -> str | list[str]:
    """One of the intake's rules from the contract (the cis source's meta
    `intake`, which DuckDB's intake reads too, macro cis_intake_rule): `forms`,
    `fingerprint`, `two_forms`, `missing`."""
    return _cis_source(path)["meta"]["intake"][key]


def load_contract(path: Path = SOURCES_YML) -> list[Export]:
    source = _cis_source(path)
    exports = []
    for table in source["tables"]:
        cols = []
        for c in table["columns"]:
            meta = c.get("meta", {})
            domain = meta.get("domain")
            cols.append(Column(
                name=c["name"],
                cis_type=meta.get("cis_type", "text"),
                required=meta.get("required", True),
                domain=tuple(domain) if domain else None,
                min=meta.get("min"),
                max=meta.get("max"),
                personal=bool(meta.get("personal_data", False)),
                may_be_absent=bool(meta.get("may_be_absent", False)),
            ))
        exports.append(Export(table["name"], tuple(cols), tuple(table["meta"]["primary_key"])))
    return exports


class ContractError(Exception):
    """A raw export directory that cannot be loaded at all."""


def read_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        try:
            return next(csv.reader(fh))
        except StopIteration:
            return []


def parquet_columns(path: Path, con=None) -> dict[str, str]:
    """Column name -> DuckDB type of a Parquet file (reads the footer only),
    on `con` when given (a preflight of thousands of files opens one
    connection, not one per file)."""
    import duckdb

    own = con is None
    con = duckdb.connect() if own else con
    try:
        return {row[0]: row[1] for row in con.execute(
            "select column_name, column_type from (describe select * from read_parquet($1))", [str(path)]).fetchall()}
    finally:
        if own:
            con.close()


# Parquet types a contract type accepts besides text (VARCHAR is always fine:
# its values are then checked row by row like CSV text). Ids and other text
# columns must be text, so that leading zeros survive.
_PARQUET_TYPES = {
    "text": (),
    "date": ("DATE",),
    "timestamp": ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "TIMESTAMP WITH TIME ZONE"),
    "decimal": ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT",
                "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"),
    "integer": ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"),
    "boolean": ("BOOLEAN",),
}


def parquet_type_problem(column: Column, duck_type: str) -> str | None:
    base = duck_type.split("(")[0].strip().upper()
    if base == "VARCHAR" or base in _PARQUET_TYPES.get(column.cis_type, ()):
        return None
    need = "text" if column.cis_type == "text" else f"a {column.cis_type} (or text)"
    return f"column '{column.name}' is {duck_type}, the contract needs {need}"


def csv_shape_problem(path: Path) -> str | None:
    """A CSV file that is empty or holds a header and no data row."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        return "empty file (no header)"
    first_break = head.find(b"\n")
    if first_break < 0 or not head[first_break + 1:].strip(b" \t\r\n"):
        return "header only, no data rows"
    return None


def sql_literal(value: str) -> str:
    """`value` as a DuckDB/PostgreSQL string literal, quotes doubled: a path or
    file name reaches SQL this way (where a statement takes no bound
    parameter, as ATTACH does not) or as a bound parameter, never pasted."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """`name` as a DuckDB/PostgreSQL quoted identifier (a column or table name), quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def _form_label(pattern: str, name: str) -> str:
    """A form as the errors name it: the file (raw_X.csv) or the folder (raw_X/)."""
    pattern = pattern.format(name=name)
    return pattern.split("/")[0] + "/" if "/" in pattern else pattern


def _form_files(raw_dir: Path, name: str) -> dict[str, list[Path]]:
    """The files of each form (intake_rule('forms')) present under raw_dir."""
    found: dict[str, list[Path]] = {}
    for pattern in intake_rule("forms"):
        files = [p for p in Path(raw_dir).glob(pattern.format(name=name)) if p.is_file()]
        if files:
            found.setdefault(_form_label(pattern, name), []).extend(files)
    return found


def export_forms(raw_dir: Path, name: str) -> list[str]:
    """The forms in which export `name` is present under raw_dir (normally
    one), sorted as DuckDB's intake names them in its error."""
    return sorted(_form_files(raw_dir, name))


def export_files(raw_dir: Path, name: str) -> list[Path]:
    """The deliveries of one export (a single file, or the .csv / .parquet
    files of its folder), ordered by file name as the warehouse orders them."""
    files = [p for group in _form_files(raw_dir, name).values() for p in group]
    return sorted(files, key=lambda p: (p.name, str(p)))


def fingerprints(paths: list[Path]) -> dict[Path, str]:
    """Each delivery's fingerprint, `size-mtime` (modification time in
    milliseconds): the formula of the DuckDB intake (cis_export_files), read
    the same way (DuckDB's read_blob), for the printed plan, the GX gate and
    the loaders of the other engines."""
    import duckdb

    if not paths:
        return {}
    con = duckdb.connect()
    try:
        by_name = dict(con.execute(
            f"select filename, {intake_rule('fingerprint')} from read_blob($1)", [[str(p) for p in paths]]).fetchall())
    finally:
        con.close()
    return {p: by_name.get(str(p)) for p in paths}


def preflight(raw_dir: Path, exports: list[Export] | None = None,
              checked: set[tuple[str, str, str]] | None = None) -> list[str]:
    """Problems that stop a run: an export that is missing or present in two
    forms, an empty folder, or a delivery that cannot be read, is empty, holds
    a header only, or whose header (CSV) or schema (Parquet) lacks a contract
    column or types one in a way the contract excludes.

    `checked`: deliveries (export, file name, fingerprint) that passed this
    preflight before with the same contract (pipeline.preflight_checked):
    their files are not read again, so a daily run reads the day's files,
    not the history's (DECISIONLOG 141). The export-level checks always run.

    Returns one message per problem, each naming the file (and column).
    Row-level problems are not checked here: staging rejects those row by row.
    """
    import duckdb

    exports = exports or load_contract()
    raw_dir = Path(raw_dir)
    problems: list[str] = []
    if not raw_dir.is_dir():
        return [f"{raw_dir}: raw export directory does not exist"]
    con = duckdb.connect()
    try:
        for export in exports:
            problems += _export_problems(raw_dir, export, checked or set(), con)
    finally:
        con.close()
    return problems


def _export_problems(raw_dir: Path, export: Export, checked: set[tuple[str, str, str]], con) -> list[str]:
    """preflight's problems of one export."""
    forms = export_forms(raw_dir, export.name)
    if not forms and (raw_dir / export.name).is_dir():
        return [f"{export.name}/: folder holds no .csv or .parquet delivery"]
    if len(forms) != 1:
        message = intake_rule("missing" if not forms else "two_forms")
        return [message.format(name=export.name, raw_dir=raw_dir, forms=" and ".join(forms))]
    files = export_files(raw_dir, export.name)
    known = {(delivery, fingerprint) for name, delivery, fingerprint in checked if name == export.name}
    try:
        seen = fingerprints(files) if known else {}
    except Exception:  # noqa: BLE001 - a file read_blob cannot read: every file is read, and named
        seen = {}
    problems: list[str] = []
    for path in files:
        unreadable = unreadable_name(path.name)
        if unreadable:  # the name shown on one line, a control character as its escape
            shown = "".join(ch.encode("unicode_escape").decode() if ord(ch) < 32 or ord(ch) == 127 else ch
                            for ch in str(path.relative_to(raw_dir)))
            problems.append(f"{shown}: {unreadable}")
        elif (path.name, seen.get(path)) not in known:
            problems += delivery_problems(raw_dir, path, export, only=len(files) == 1, con=con)
    return problems


def unreadable_name(name: str) -> str | None:
    """Why a delivery's file name cannot be used, or None. Any other .csv or
    .parquet name loads (quotes, spaces, accents, glob characters, a leading
    '.' or '_' included): paths reach SQL only as escaped literals, and only
    DuckDB's intake reads the landing folder, on every engine (DECISIONLOG 127)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "a name holding a control character (a line break, a tab) cannot be named in a report; rename the delivery"
    return None


def delivery_problems(raw_dir: Path, path: Path, export: Export, only: bool = True, con=None) -> list[str]:
    """File-level faults of one delivery, each a line naming the file. A
    header-only file is a fault when it is the export's only delivery; in a
    folder of deliveries it is a quiet day (the header is still checked)."""
    shown = path.relative_to(raw_dir)
    try:
        if path.suffix == ".parquet":
            types = parquet_columns(path, con)
            what = "schema"
        else:
            shape = csv_shape_problem(path)
            if shape and (only or shape.startswith("empty")):
                return [f"{shown}: {shape}"]
            types = {h.strip(): "VARCHAR" for h in read_header(path)}
            what = "header"
    except Exception as exc:  # unreadable file or Parquet footer, permissions, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [f"{shown}: cannot be read ({first})"]
    problems = []
    for column in export.columns:
        if column.name not in types:
            if not column.may_be_absent:
                problems.append(f"{shown}: {what} lacks contract column '{column.name}'")
        elif path.suffix == ".parquet":
            bad = parquet_type_problem(column, types[column.name])
            if bad:
                problems.append(f"{shown}: {bad}")
    return problems
