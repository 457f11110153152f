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
    with path.open(newline="", encoding="utf-8-sig") as fh:
        try:
            return next(csv.reader(fh))
        except StopIteration:
            return []


def preflight(raw_dir: Path, exports: list[Export] | None = None) -> list[str]:
    """Problems that stop a run: a missing file, or a header lacking a contract column.

    Returns one message per problem, each naming the file (and column).
    Row-level problems are not checked here: staging rejects those row by row.
    """
    exports = exports or load_contract()
    raw_dir = Path(raw_dir)
    problems: list[str] = []
    if not raw_dir.is_dir():
        return [f"{raw_dir}: raw export directory does not exist"]
    for export in exports:
        path = raw_dir / export.file_name
        if not path.is_file():
            problems.append(f"{export.file_name}: file is missing from {raw_dir}")
            continue
        header = [h.strip() for h in read_header(path)]
        for column in export.column_names:
            if column not in header:
                problems.append(f"{export.file_name}: header lacks contract column '{column}'")
    return problems
