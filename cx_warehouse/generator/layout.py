"""Export forms other than one CSV per export: Parquet files and daily deliveries.

The generator always writes the exports as CSV first (byte-identical to the
``files`` / ``csv`` form); for any other form it writes them to a work folder
and :func:`publish` turns them into the asked form with DuckDB, vectorised:

- ``files``: one ``raw_X.<ext>`` per export.
- ``deliveries``: the dimension exports (:data:`DIMENSIONS`) stay single
  files; every event export becomes a folder ``raw_X/`` of one file a day,
  ``raw_X/YYYY-MM-DD.<ext>``, for the days that have rows.  The day of a row
  is the date (part) of its :data:`DAY_COLUMNS` value; a value that does not
  parse under its contract type goes to the start day, one outside
  [start, end] to the nearest of the two.  All rows sharing a key (the
  planted conflicting duplicates) go to the day of their first row in file
  order, so that a duplicate never spans two deliveries.  An event export
  without any row gets one empty delivery (header or schema only) on the
  start day, so that the export is still present.
- :class:`LateCorrections` (deliveries only): a picked clean row is
  delivered on a later day, and its natural day receives an earlier version
  of it instead, so "latest delivery per key wins" gives the files layout.

Inside a file the rows keep their order in the CSV export (the original line
number ``_line``).  DuckDB's partitioned COPY does not keep row order within a
partition, so the rows are sorted once by (day, line) into a table of a work
database and each delivery is one ``COPY (... WHERE _day = d ORDER BY _line)``.

Parquet columns carry their contract type (DATE, TIMESTAMP, DOUBLE for
decimals, BIGINT, BOOLEAN) when every non-empty value of the column in the
export parses under the contract format (decided per export, over all its
deliveries), else VARCHAR so that planted defects survive; empty -> NULL.
CSV files keep the export's quoting (minimal) and empty fields.
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import re

import duckdb
import numpy as np

from .common import FILES, KEYS, fmt_fixed
from ..contract import load_contract

FORMATS = ("csv", "parquet")
LAYOUTS = ("files", "deliveries")

# the column that dates a row of an event export (its delivery day)
DAY_COLUMNS = {
    "raw_ami_daily_reads": "read_date",
    "raw_billing_runs": "run_date",
    "raw_bills": "bill_date",
    "raw_billing_exceptions": "raised_at",
    "raw_payments": "paid_at",
    "raw_service_orders": "created_at",
    "raw_contacts": "started_at",
    "raw_portal_events": "event_at",
    "raw_surveys": "sent_at",
}
DIMENSIONS = tuple(name for name in FILES if name not in DAY_COLUMNS)

# the contract formats (as in macros/cross_db/cis_parse.sql) and Parquet types
_PATTERNS = {
    "date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "timestamp": r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}",
    "decimal": r"-?[0-9]+([.][0-9]+)?",
    "integer": r"-?[0-9]+",
    "boolean": r"true|false",
}
_SQL_TYPES = {"date": "DATE", "timestamp": "TIMESTAMP", "decimal": "DOUBLE",
              "integer": "BIGINT", "boolean": "BOOLEAN"}
_DELIVERY_FILE = re.compile(r"\d{4}-\d{2}-\d{2}\.(csv|parquet)")


def output_name(name: str, file_format: str, layout: str) -> str:
    """The manifest's name of an export's output: raw_X.csv, raw_X.parquet or raw_X/."""
    if layout == "deliveries" and name in DAY_COLUMNS:
        return name + "/"
    return f"{name}.{file_format}"


def delivery_name(day: int | dt.date, file_format: str) -> str:
    """File name of the delivery of a day (ordinal or date): 2025-10-02.csv."""
    if not isinstance(day, dt.date):
        day = dt.date.fromordinal(int(day))
    return f"{day.isoformat()}.{file_format}"


def clear_forms(out_dir: str, name: str) -> None:
    """Remove what an earlier run wrote for an export, in any form (a folder
    keeps files the generator does not write)."""
    for ext in FORMATS:
        path = os.path.join(out_dir, f"{name}.{ext}")
        if os.path.isfile(path):
            os.remove(path)
    folder = os.path.join(out_dir, name)
    if os.path.isdir(folder):
        for entry in os.listdir(folder):
            if _DELIVERY_FILE.fullmatch(entry):
                os.remove(os.path.join(folder, entry))
        if not os.listdir(folder):
            os.rmdir(folder)


def csv_writer(f):
    """The export's CSV dialect: minimal quoting, '\\n' line ends."""
    return csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


def write_rows(writer, header: list[str], cols: dict) -> int:
    """Write the rows of text columns (arrays or lists) in header order; returns the count."""
    n = len(cols[header[0]])
    step = 1 << 20  # in slices: no full lists of tens of millions of values
    for a in range(0, max(n, 1), step):
        lists = [cols[c][a:a + step] for c in header]
        writer.writerows(zip(*[x.tolist() if isinstance(x, np.ndarray) else list(x) for x in lists]))
    return n


def write_csv(path: str, header: list[str], cols: dict) -> int:
    """One CSV file: header row, then the rows; returns the row count."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv_writer(f)
        w.writerow(header)
        return write_rows(w, header, cols)


# ---------------------------------------------------------------------------
class LateCorrections:
    """Late corrections planted in the deliveries layout.

    A picked row (clean, kept, its key appearing once) is delivered on day
    ``late`` > its natural day ``d``; delivery ``d`` receives an earlier version
    of it (:meth:`earlier`).  Lags are 1..3 days (capped at ``end``), for
    about :attr:`RATE` of the candidate rows (at least :attr:`MINIMUM`); plus
    for the reads one correction landing on the last day for each lag of
    :attr:`LAST_DAY_LAGS` (a read of day end-3 and one of day end-20).
    Rows of day ``end`` are never picked: nothing can correct them later.
    """

    RATE = 0.001
    MINIMUM = {"raw_ami_daily_reads": 3, "raw_service_orders": 2}
    LAST_DAY_LAGS = {"raw_ami_daily_reads": (3, 20)}

    def __init__(self, start_o: int, end_o: int, enabled: bool):
        self.start_o, self.end_o, self.enabled = start_o, end_o, enabled
        self.picked = {name: 0 for name in self.MINIMUM}
        self.pending_last_day = {name: list(lags) for name, lags in self.LAST_DAY_LAGS.items()}
        self.chunks: dict[str, list[dict]] = {name: [] for name in self.MINIMUM}

    @staticmethod
    def earlier(name: str, rows: dict) -> dict:
        """The version of the rows that was delivered first."""
        out = dict(rows)
        n = len(rows[FILES[name][0]])
        if name == "raw_ami_daily_reads":
            out["kwh"] = fmt_fixed(rows["kwh"].astype(np.float64) * 0.9, 3)
            out["read_quality"] = np.full(n, "estimated", dtype=object)
        elif name == "raw_service_orders":
            out["status"] = np.full(n, "open", dtype=object)
            out["completed_at"] = np.full(n, "", dtype=object)
        return out

    def pick(self, name: str, rng: np.random.Generator, rows, day: np.ndarray,
             eligible: np.ndarray, excluded: set[str], last: bool = True):
        """Pick corrections among ``rows`` (clean text columns, or a function
        giving the text columns of the rows at some indices) dated ``day``
        (ordinals); ``excluded`` keys (planted defects) are never picked.
        ``last``: no more rows of this export follow (top up to the minimum).
        Returns the picked indices and their superseding days (None when
        disabled).
        """
        if not self.enabled:
            return None
        at = rows if callable(rows) else (
            lambda idx: {c: np.asarray(rows[c], dtype=object)[idx] for c in FILES[name]})
        day = np.asarray(day, dtype=np.int64)
        eligible = eligible & (day >= self.start_o) & (day < self.end_o)
        cand = np.flatnonzero(eligible)
        want = int(round(self.RATE * cand.size))
        if last:
            want = max(want, self.MINIMUM[name] - self.picked[name])
        take = rng.choice(cand, size=min(cand.size, want + len(excluded)), replace=False)
        take = np.sort(self._allowed(name, at, take, excluded)[:want])
        late = np.minimum(day[take] + rng.integers(1, 4, take.size), self.end_o)
        self.picked[name] += take.size
        for lag in list(self.pending_last_day.get(name, ())):
            on_day = np.flatnonzero(eligible & (day == self.end_o - lag))
            on_day = on_day[~np.isin(on_day, take)]
            on_day = rng.choice(on_day, size=min(on_day.size, 1 + len(excluded)), replace=False)
            on_day = self._allowed(name, at, on_day, excluded)
            if on_day.size:
                take = np.append(take, on_day[0])
                late = np.append(late, self.end_o)
                self.pending_last_day[name].remove(lag)
        if take.size:
            self.chunks[name].append({"rows": self.earlier(name, at(take)), "day": day[take], "late": late})
        return take, late

    @staticmethod
    def _allowed(name: str, at, idx: np.ndarray, excluded: set[str]) -> np.ndarray:
        if not excluded or idx.size == 0:
            return idx
        rows = at(idx)
        keys = ["|".join(v) for v in zip(*[np.asarray(rows[c], dtype=object).tolist() for c in KEYS[name]])]
        return idx[[k not in excluded for k in keys]]

    def count(self, name: str) -> int:
        return sum(len(c["day"]) for c in self.chunks.get(name, ()))

    def write(self, path: str, name: str) -> None:
        """The earlier versions as CSV, with the superseding day in ``_late``."""
        header = FILES[name] + ["_late"]
        parts = self.chunks.get(name, [])
        cols = {c: np.concatenate([p["rows"][c] for p in parts]) if parts else np.empty(0, dtype=object)
                for c in FILES[name]}
        late = np.concatenate([p["late"] for p in parts]) if parts else np.empty(0, dtype=np.int64)
        cols["_late"] = np.array([dt.date.fromordinal(d).isoformat() for d in late.tolist()], dtype=object)
        write_csv(path, header, cols)

    def manifest(self, file_format: str) -> list[dict]:
        out = []
        for name, parts in self.chunks.items():
            for p in parts:
                keys = zip(*[p["rows"][c].tolist() for c in KEYS[name]])
                for key, d, late in zip(keys, p["day"].tolist(), p["late"].tolist()):
                    out.append({"file": name, "primary_key": "|".join(key),
                                "superseded_delivery": delivery_name(d, file_format),
                                "superseding_delivery": delivery_name(late, file_format)})
        return out


# ---------------------------------------------------------------------------
def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _reader(path: str, columns: list[str]) -> str:
    """All columns as text, empty fields as NULL, exactly as the CSV was written."""
    spec = ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in columns)
    return (f"read_csv({_lit(path)}, header=true, auto_detect=false, columns={{{spec}}}, "
            "delim=',', quote='\"', escape='\"', strict_mode=true)")


def _parsed(column: str, cis_type: str) -> str:
    """The value under its contract type, NULL when it does not parse."""
    c = _q(column)
    return (f"CASE WHEN regexp_full_match({c}, {_lit(_PATTERNS[cis_type])}) "
            f"THEN TRY_CAST({c} AS {_SQL_TYPES[cis_type]}) END")


class _Publisher:
    def __init__(self, work_dir: str, out_dir: str, file_format: str, layout: str,
                 start: dt.date, end: dt.date):
        self.work, self.out = work_dir, out_dir
        self.format, self.layout = file_format, layout
        self.start, self.end = start, end
        self.exports = {e.name: e for e in load_contract()}
        missing = [name for name in FILES if name not in self.exports]
        if missing:
            raise ValueError(f"exports missing from the contract: {missing}")
        self.con = duckdb.connect(os.path.join(work_dir, "layout.duckdb"))
        self.con.execute(f"SET temp_directory = {_lit(os.path.join(work_dir, 'spill'))}")
        self.con.execute("SET preserve_insertion_order = true")

    def close(self) -> None:
        self.con.close()

    def _csv(self, name: str) -> str:
        return os.path.join(self.work, name + ".csv")

    def _typed_select(self, name: str, relation: str) -> str:
        """The select list of the output: typed where the whole export parses."""
        cols = FILES[name]
        if self.format == "csv":
            return ", ".join(_q(c) for c in cols)
        types = {c.name: c.cis_type for c in self.exports[name].columns}
        typed = [c for c in cols if types.get(c, "text") in _SQL_TYPES]
        ok = {}
        if typed:
            checks = ", ".join(
                f"coalesce(bool_and({_q(c)} IS NULL OR ({_parsed(c, types[c])}) IS NOT NULL), true)"
                for c in typed)
            ok = dict(zip(typed, self.con.execute(f"SELECT {checks} FROM {relation}").fetchone()))
        return ", ".join(f"{_parsed(c, types[c])} AS {_q(c)}" if ok.get(c) else _q(c) for c in cols)

    def _copy(self, select: str, path: str) -> int:
        opts = "FORMAT parquet" if self.format == "parquet" else "FORMAT csv, HEADER true"
        return int(self.con.execute(f"COPY ({select}) TO {_lit(path)} ({opts})").fetchone()[0])

    def single_file(self, name: str) -> int | None:
        """raw_X.<ext>; returns the rows written (None: the CSV export moved as it is)."""
        clear_forms(self.out, name)
        path = os.path.join(self.out, f"{name}.{self.format}")
        if self.format == "csv":
            os.replace(self._csv(name), path)
            return None
        reader = _reader(self._csv(name), FILES[name])
        return self._copy(f"SELECT {self._typed_select(name, reader)} FROM {reader}", path)

    def deliveries(self, name: str, dup_keys: list[tuple], corrections: LateCorrections) -> list[dict]:
        """raw_X/YYYY-MM-DD.<ext>: rows placed on their day (see the module
        docstring), sorted once by (day, line), then one COPY per day."""
        cols, key = FILES[name], KEYS[name]
        dup_path = os.path.join(self.work, f"_dup_{name}.csv")
        write_csv(dup_path, list(key), {c: [k[i] for k in dup_keys] for i, c in enumerate(key)})
        corr_path = os.path.join(self.work, f"_corrections_{name}.csv")
        corrections.write(corr_path, name)
        day_col = DAY_COLUMNS[name]
        day_type = {c.name: c.cis_type for c in self.exports[name].columns}[day_col]
        first, last = f"DATE {_lit(self.start.isoformat())}", f"DATE {_lit(self.end.isoformat())}"
        # the date (part) of the day column; unparseable: start day; clamped to [start, end]
        parsed_day = f"CAST(({_parsed(day_col, day_type)}) AS DATE)"
        natural = f"least(greatest(coalesce({parsed_day}, {first}), {first}), {last})"
        using = ", ".join(_q(k) for k in key)
        self.con.execute(f"""
            CREATE OR REPLACE TABLE placed AS
            WITH src AS (SELECT row_number() OVER () AS _line, * FROM {_reader(self._csv(name), cols)}),
            nat AS (SELECT *, {natural} AS _nat FROM src),
            dup AS (SELECT * FROM {_reader(dup_path, list(key))}),
            first_day AS (
                SELECT {using}, arg_min(_nat, _line) AS _first
                FROM nat SEMI JOIN dup USING ({using}) GROUP BY ALL),
            corr AS (
                SELECT * EXCLUDE (_late), CAST(_late AS DATE) AS _late
                FROM {_reader(corr_path, cols + ['_late'])})
            SELECT * FROM (
                SELECT nat._line, {', '.join('nat.' + _q(c) for c in cols)},
                       coalesce(corr._late, first_day._first, nat._nat) AS _day
                FROM nat LEFT JOIN first_day USING ({using}) LEFT JOIN corr USING ({using})
                UNION ALL
                SELECT nat._line, {', '.join('corr.' + _q(c) for c in cols)}, nat._nat AS _day
                FROM corr JOIN nat USING ({using})
            ) ORDER BY _day, _line""")
        select = self._typed_select(name, "placed")
        clear_forms(self.out, name)
        folder = os.path.join(self.out, name)
        os.makedirs(folder, exist_ok=True)
        out = []
        days = self.con.execute("SELECT _day, count(*) FROM placed GROUP BY _day ORDER BY _day").fetchall()
        for day, n in days or [(self.start, 0)]:  # an export without rows: one empty delivery
            file_name = delivery_name(day, self.format)
            written = self._copy(f"SELECT {select} FROM placed WHERE _day = DATE {_lit(day.isoformat())} "
                                 "ORDER BY _line", os.path.join(folder, file_name))
            assert written == n, (name, day, written, n)
            out.append({"delivery": file_name, "rows": int(n)})
        self.con.execute("DROP TABLE placed")
        return out


def publish(work_dir: str, out_dir: str, file_format: str, layout: str, start: dt.date, end: dt.date,
            rows_in_csv: dict[str, int], dup_keys: dict[str, list[tuple]],
            corrections: LateCorrections, prepared: dict | None = None
            ) -> tuple[dict[str, int], dict[str, list[dict]]]:
    """Turn the CSV exports in ``work_dir`` into the asked form in ``out_dir``.

    ``dup_keys``: per export, the keys that more than one (not identical) row
    shares; ``rows_in_csv``: the row count of each CSV export.  Returns the
    rows written per export and, per folder export, its deliveries
    ``[{"delivery": "2025-10-02.csv", "rows": n}, ...]``.  ``prepared``: the
    exports already written in the asked form, name -> (rows, deliveries or
    None) (the reads, see ``reads``).
    """
    prepared = prepared or {}
    pub = _Publisher(work_dir, out_dir, file_format, layout, start, end)
    rows: dict[str, int] = {}
    deliveries: dict[str, list[dict]] = {}
    try:
        for name in FILES:
            if name in prepared:
                rows[name], done = prepared[name]
                if done is not None:
                    deliveries[name] = done
            elif layout == "deliveries" and name in DAY_COLUMNS:
                deliveries[name] = pub.deliveries(name, dup_keys.get(name, []), corrections)
                rows[name] = sum(d["rows"] for d in deliveries[name])
            else:
                n = pub.single_file(name)
                rows[name] = rows_in_csv[name] if n is None else n
    finally:
        pub.close()
    return rows, deliveries
