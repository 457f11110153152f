"""The CIS export contract, read from the dbt sources file that defines it.

models/staging/cis/_cis__sources.yml is the single written copy of the
contract's file names, columns and rules; the preflight below, the staging
macro and the raw data-quality suite all read it.
"""
from __future__ import annotations

import csv
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


def load_contract(path: Path = SOURCES_YML) -> list[Export]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    source = next(s for s in doc["sources"] if s["name"] == "cis")
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


def parquet_columns(path: Path) -> list[str]:
    import duckdb

    con = duckdb.connect()
    try:
        return [row[0] for row in con.execute(
            "select name from parquet_schema($1) where name <> 'duckdb_schema' and num_children is null",
            [str(path)]).fetchall()]
    finally:
        con.close()


FORMS = ("{name}.csv", "{name}.parquet", "{name}/")


def export_forms(raw_dir: Path, name: str) -> list[str]:
    """The forms in which export `name` is present under raw_dir (normally one)."""
    raw_dir = Path(raw_dir)
    found = []
    if (raw_dir / f"{name}.csv").is_file():
        found.append(f"{name}.csv")
    if (raw_dir / f"{name}.parquet").is_file():
        found.append(f"{name}.parquet")
    folder = raw_dir / name
    if folder.is_dir():
        found.append(f"{name}/")
    return found


def export_files(raw_dir: Path, name: str) -> list[Path]:
    """The deliveries of one export (a single file, or the .csv / .parquet
    files of its folder), ordered by file name as the warehouse orders them."""
    raw_dir = Path(raw_dir)
    files: list[Path] = []
    for form in export_forms(raw_dir, name):
        if form.endswith("/"):
            files += [p for p in (raw_dir / name).iterdir()
                      if p.is_file() and p.suffix in (".csv", ".parquet")]
        else:
            files.append(raw_dir / form)
    return sorted(files, key=lambda p: (p.name, str(p)))


def _file_columns(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        return parquet_columns(path)
    return [h.strip() for h in read_header(path)]


def preflight(raw_dir: Path, exports: list[Export] | None = None) -> list[str]:
    """Problems that stop a run: an export that is missing or present in two
    forms, an empty folder, or a delivery whose header (CSV) or schema
    (Parquet) lacks a contract column.

    Returns one message per problem, each naming the file (and column).
    Row-level problems are not checked here: staging rejects those row by row.
    """
    exports = exports or load_contract()
    raw_dir = Path(raw_dir)
    problems: list[str] = []
    if not raw_dir.is_dir():
        return [f"{raw_dir}: raw export directory does not exist"]
    for export in exports:
        forms = export_forms(raw_dir, export.name)
        if not forms:
            problems.append(f"{export.name}: export is missing from {raw_dir} "
                            f"(expected {export.name}.csv, {export.name}.parquet or a folder {export.name}/)")
            continue
        if len(forms) > 1:
            problems.append(f"{export.name}: two forms of one export in {raw_dir}: "
                            f"{' and '.join(forms)}; keep one")
            continue
        files = export_files(raw_dir, export.name)
        if not files:
            problems.append(f"{export.name}/: folder holds no .csv or .parquet delivery")
            continue
        for path in files:
            shown = path.relative_to(raw_dir)
            try:
                present = _file_columns(path)
            except Exception as exc:  # unreadable Parquet footer, permissions, ...
                problems.append(f"{shown}: cannot be read ({str(exc).splitlines()[0]})")
                continue
            for column in export.column_names:
                if column not in present:
                    what = "schema" if path.suffix == ".parquet" else "header"
                    problems.append(f"{shown}: {what} lacks contract column '{column}'")
    return problems
