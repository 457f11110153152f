"""Deterministic generator of a utility's CIS exports (the 14 exports of
``docs/contract/cis-exports.md``) with optional planted defects.

    python -m cx_warehouse.generator --out data/generated --accounts 300
    python -m cx_warehouse.generator --out DIR --format parquet --layout deliveries

Public API: :func:`generate` and :func:`main`.  The same parameters always
give identical output: byte-identical CSV files and manifest; for Parquet the
same row content and order in every file.

Forms (``--format csv|parquet``, ``--layout files|deliveries``; default
csv / files: one CSV file per export, as the generator has always written):

- ``files``: one file per export, ``raw_X.csv`` or ``raw_X.parquet``.
- ``deliveries``: the dimension exports (raw_customers, raw_accounts,
  raw_meter_installs, raw_portal_users, raw_delivery_preferences) stay single
  files ``raw_X.<ext>``; every event export is a folder ``raw_X/`` of one file
  a day, ``raw_X/YYYY-MM-DD.<ext>``, for the days that have rows.  The day of
  a row is the date (part) of ami_daily_reads.read_date, billing_runs.run_date,
  bills.bill_date, billing_exceptions.raised_at, payments.paid_at,
  service_orders.created_at, contacts.started_at, portal_events.event_at or
  surveys.sent_at; a value that does not parse under its contract type goes
  to the start day, one outside [start, end] to the nearest of the two.  All
  rows sharing a key go to the day of the first of them in file order.
  Inside a file the rows keep their order in the CSV export.  (An event
  export without any row gets one empty delivery, on the start day.)
- Parquet: a column has its contract type (DATE, TIMESTAMP, DOUBLE for
  decimals, BIGINT, BOOLEAN) when every non-empty value of it in the export
  parses under the contract format, else VARCHAR, so that planted defects
  survive unchanged; empty text is NULL.  Decided per export, so every
  delivery of an export has the same schema.

The CSV exports are written with numpy and the standard library; the other
forms are derived from them with DuckDB, vectorised (see ``layout``).

Scale: ``accounts`` is the number of service premises.  Each premise is
served by a chain of non-overlapping accounts (move-outs, vacancies,
move-ins), so ``raw_accounts`` holds a few percent more rows.

Ids: C000001 customers, A000001 accounts, P000001 premises, M0000001 meters,
BR0001 billing runs, B00000001 bills, BX000001 billing exceptions,
PY00000001 payments, SO0000001 service orders, CT00000001 contacts,
T0000001 tickets, AG0001 agents, U000001 portal users, EV000000001 portal
events, S0000001 surveys (the width grows with the volume).  Meter installs
are keyed on (meter_id, installed_date): a meter may be reinstalled elsewhere.
``id_prefix`` / ``--id-prefix TEXT`` puts TEXT in front of all of them (and
of the fresh ids of defects and orphans), e.g. BM0000001; it is recorded as
``params.id_prefix`` in the manifest (absent when empty).

Defects (``defect_rate`` > 0): about ``defect_rate`` x rows extra rows per
file, split over the kinds that apply to the file, at least one of each:

- ``missing_required``      a required, non-key field is empty
- ``unparseable``           a date / timestamp / decimal / integer / boolean
                            that does not parse (2024-13-45, yesterday, 12,5,
                            12.5 as an integer, yes as a boolean, ...)
- ``out_of_domain``         e.g. account_class residental, channel fax
- ``negative_value``        kwh, billed_kwh, amount, talk/hold/wrap seconds
- ``score_out_of_range``    surveys.score 0, 6, 10 or 3.5
- ``completed_at_mismatch`` service order completed_at set while not
                            completed, or missing while completed
- ``conflicting_duplicate`` two rows with the same key differing in one
                            column (both rejected)
- ``exact_duplicate``       a row repeated verbatim (1 or 2 extra copies of a
                            clean row; per file also one copy of a rejected row)

Defective rows always get a fresh key, so no clean row is ever affected.
Also planted, and *kept* (not rejected): orphan references (bills, payments,
contacts for an unknown account id, reads of a never installed meter) and
one integrity defect, an ``overlapping_install``: a second install of an
existing meter at another premise, starting (under another key) while the
meter is still installed at its real premise.

Late corrections (deliveries layout, ``defect_rate`` > 0): clean kept rows
(in no planted defect, key appearing once) of raw_ami_daily_reads (actual
reads) and raw_service_orders (completed orders) are delivered late: the
delivery of their natural day d holds an earlier version (read: estimated,
kWh x 0.9; order: open, no completed_at) and delivery d + 1..3 days (at most
``end``) the true row, so that "latest delivery per key wins" gives exactly
the files layout.  About 0.1% of the candidate rows, at least 3 reads and 2
orders; plus two reads, of days end-3 and end-20 (when the reads cover
them), corrected in the last delivery.

``_manifest.json``: ``params`` (with ``format`` and ``layout``), ``entities``,
``rows_written`` (rows per export, all deliveries together; keyed by the
output's name: ``raw_X.csv`` / ``raw_X.parquet`` for a single file,
``raw_X/`` for a folder), ``files`` (per export: file (the same name),
raw_rows, kept_rows, duplicate_rows, rejected_rows, superseded_rows with
raw = kept + duplicate + rejected + superseded, orphan_rows,
defects_by_kind), ``defect_kinds`` per export, ``deliveries`` (per folder
export: ``[{"delivery": "2025-10-02.csv", "rows": n}, ...]``; ``{}`` in the
files layout), ``defects`` (one entry per planted defect: file, primary_key
(composite keys joined with '|'), kind, column, rows, outcome
rejected|duplicate), ``orphans``, ``integrity`` (file, kind, meter_id,
primary_key) and ``corrections`` (file, primary_key, superseded_delivery,
superseding_delivery, deliveries named by their file name).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Sequence

import numpy as np

from . import cx, reads
from .common import DAY, FILES, KEYS, Fmt, fmt_fixed, fmt_ids, fmt_int, id_width, stream
from .defects import CONFLICT, EXACT, OVERLAPPING_INSTALL, Injector, applicable_kinds
from .layout import (
    DAY_COLUMNS, FORMATS, LAYOUTS, LateCorrections, clear_forms, output_name, publish, write_csv,
)
from .world import (
    AREAS, CLASS_NAMES, CYCLES, EXCEPTION_TYPES, RATE_CODES, NONE_DAY, build_world,
    finish_bills, usage_pass,
)
from .common import (
    CONTACT_CHANNELS, DELIVERY_METHODS, EVENT_TYPES, ORDER_STATUSES, ORDER_TYPES,
    PAYMENT_CHANNELS, PORTAL_CHANNELS, REASON_CODES, RESOLUTIONS,
)

__all__ = ["generate", "main", "GENERATOR_VERSION", "FILES", "FORMATS", "LAYOUTS"]

GENERATOR_VERSION = "1.1.0"
CONTRACT = "docs/contract/cis-exports.md"
# survey trigger rank used internally -> contract trigger_type
_ID_PREFIX = re.compile(r"[A-Za-z0-9_-]*")
_SURVEY_TYPES = np.array(["contact", "service_order", "payment", "bill"], dtype=object)


class _Ids:
    """Text ids per entity: prefix + zero padded (index + 1); fresh ids continue
    after the clean ones (used for defects and orphan references)."""

    def __init__(self, prefix: str, count: int, minimum: int):
        self.prefix = prefix
        self.count = int(count)
        self.width = id_width(3 * count + 1000, minimum)
        self.next = self.count + 1
        self._all = None

    @property
    def all(self) -> np.ndarray:
        if self._all is None:
            self._all = fmt_ids(self.prefix, np.arange(1, self.count + 1), self.width)
        return self._all

    def of(self, idx) -> np.ndarray:
        return self.all[np.asarray(idx, dtype=np.int64)]

    def of_opt(self, idx) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        out = self.all[np.maximum(idx, 0)] if self.count else np.full(idx.size, "", dtype=object)
        out = out.copy()
        out[idx < 0] = ""
        return out

    def text(self, idx) -> np.ndarray:
        """The ids of some indices, without keeping the whole table."""
        return fmt_ids(self.prefix, np.asarray(idx, dtype=np.int64) + 1, self.width)

    def release(self) -> None:
        """Drop the cached table (made again when needed)."""
        self._all = None

    def fresh(self) -> str:
        s = f"{self.prefix}{self.next:0{self.width}d}"
        self.next += 1
        return s


def _phone_text(numbers: np.ndarray, styles: np.ndarray, caller: bool) -> np.ndarray:
    out = []
    for num, st in zip(numbers.tolist(), styles.tolist()):
        if num < 0:
            out.append("")
            continue
        s = f"{num:010d}"
        a, e, x = s[:3], s[3:6], s[6:]
        if caller:
            out.append((f"+1{s}", s, f"({a}) {e}-{x}", f"{a}-{e}-{x}")[st])
        else:
            out.append((f"({a}) {e}-{x}", f"{a}.{e}.{x}", f"+1 {a} {e} {x}", s, f"{a}-{e}-{x}")[st])
    return np.array(out, dtype=object)


def _obj(values) -> np.ndarray:
    a = np.empty(len(values), dtype=object)
    a[:] = list(values)
    return a


def _planted_keys(defects: list[dict], name: str, kind: str) -> list[str]:
    return [d["primary_key"] for d in defects if d["file"] == name and d["kind"] == kind]


def generate(out_dir, accounts: int = 300, start: dt.date = dt.date(2024, 1, 1),
             end: dt.date = dt.date(2025, 12, 31), seed: int = 42, defect_rate: float = 0.01,
             ami_days: int | None = None, file_format: str = "csv", layout: str = "files",
             materialize_defects: bool = True, id_prefix: str = "") -> dict:
    """Write the 14 CIS exports and ``_manifest.json`` to ``out_dir``.

    ``accounts`` is the number of service premises (each served by a chain of
    accounts over time, so the accounts file holds somewhat more rows).
    ``file_format``: csv | parquet; ``layout``: files (one file per export) |
    deliveries (event exports as folders of daily files, with late
    corrections when ``defect_rate`` > 0).
    Returns the manifest (also written as ``_manifest.json``), plus
    ``planted_defects`` (their number) and ``timings`` (seconds per phase);
    ``materialize_defects=False`` leaves out its ``defects`` list (millions of
    dicts at a million premises; the file has them all).
    ``id_prefix`` is put in front of every generated id (``B`` gives
    BM0000001, BP000001, BBR0001, BAG0001, ...), so that runs with different
    prefixes can be landed side by side without colliding ids; '' (the
    default) changes nothing.
    """
    if isinstance(start, str):
        start = dt.date.fromisoformat(start)
    if isinstance(end, str):
        end = dt.date.fromisoformat(end)
    if end < start:
        raise ValueError("end must be on or after start")
    if accounts < 1:
        raise ValueError("accounts must be >= 1")
    if not (0 <= defect_rate < 0.5):
        raise ValueError("defect_rate must be in [0, 0.5)")
    if ami_days is not None and ami_days < 1:
        raise ValueError("ami_days must be >= 1")
    if file_format not in FORMATS:
        raise ValueError(f"file_format must be one of {', '.join(FORMATS)}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    if not isinstance(id_prefix, str) or not _ID_PREFIX.fullmatch(id_prefix):
        raise ValueError("id_prefix must be letters, digits, '_' or '-' (or empty)")
    t_start = time.perf_counter()
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    direct = (file_format, layout) == ("csv", "files")
    work_dir = tempfile.mkdtemp(prefix=".generate-", dir=out_dir)
    if direct:  # the CSV exports are the output
        for name in FILES:
            clear_forms(out_dir, name)
        csv_dir = out_dir
    else:  # CSV exports in a work folder, then published in the asked form
        csv_dir = work_dir
    try:
        manifest = _generate(out_dir, csv_dir, work_dir, int(accounts), start, end, int(seed),
                             float(defect_rate), ami_days, file_format, layout, materialize_defects,
                             id_prefix)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    manifest["elapsed_seconds"] = round(time.perf_counter() - t_start, 3)
    return manifest


def _generate(out_dir: str, csv_dir: str, work_dir: str, accounts: int, start: dt.date, end: dt.date, seed: int,
              defect_rate: float, ami_days: int | None, file_format: str, layout: str,
              materialize_defects: bool = True, id_prefix: str = "") -> dict:
    start_o, end_o = start.toordinal(), end.toordinal()
    fmt = Fmt(dt.date(max(1, start.year - 140), 1, 1), end + dt.timedelta(days=400))
    w = build_world(seed, int(accounts), start_o, end_o)
    inj = Injector(stream(seed, "defects"), float(defect_rate))
    ip = id_prefix
    ids = {
        "C": _Ids(ip + "C", w.C, 6), "A": _Ids(ip + "A", w.A, 6), "P": _Ids(ip + "P", w.P, 6),
        "M": _Ids(ip + "M", w.M, 7), "R": _Ids(ip + "BR", w.R, 4),
    }
    rows_written: dict[str, int] = {}
    paths = {name: os.path.join(csv_dir, name + ".csv") for name in FILES}
    corrections = LateCorrections(start_o, end_o, enabled=layout == "deliveries" and defect_rate > 0)

    # ---- AMI reads: streamed chunk by chunk ---------------------------------
    ami_first = start_o if ami_days is None else max(start_o, end_o - int(ami_days) + 1)
    name = "raw_ami_daily_reads"
    inst_days = np.clip(
        np.minimum(w.m_rem, end_o + 1) - np.maximum(w.m_inst, ami_first), 0, None).sum()
    quotas = inj.quotas(name, int(inst_days))
    n_chunks = -(-w.P // max(500, 3_000_000 // w.D))
    # spread every planted defect of the reads over the chunks
    plan: dict[int, list[str]] = {}
    rr = stream(seed, "ami-defect-plan")
    for kind, q in quotas.items():
        for c in rr.integers(0, n_chunks, q).tolist():
            plan.setdefault(c, []).append(kind)
    pending: dict[str, int] = {}
    dup_done = [False]
    pool, log = reads.Pool(), reads.DefectLog()
    texts = reads.Texts(ids["M"].width, pool, ids["M"].prefix)
    sink = reads.Sink(work_dir, out_dir, file_format, layout, start_o, end_o, ids["M"].width, pool,
                      ids["M"].prefix)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def emit_reads(k, meter, day, kwh, est, gap_meter, gap_day):
        # the reads stay numbers: meter number, epoch day, kWh in thousandths (see reads)
        n0 = len(day)
        cols = reads.new_cols(n0)
        cols["m"][:] = meter + 1
        cols["d"][:] = day - reads.EPOCH
        cols["k"][:] = np.rint(np.abs(kwh) * 1000)
        cols["q"][:] = est
        cols["origin"][:] = np.arange(n0)
        clean = cols
        inj.add_clean(name, n0)
        for kind in plan.get(k, ()):
            pending[kind] = pending.get(kind, 0) + 1
        last = k == n_chunks - 1
        if last and defect_rate > 0:
            number = ids["M"].next
            orphan_meter = ids["M"].fresh()
            days = np.arange(max(ami_first, end_o - 2), end_o + 1)
            rows = reads.new_cols(len(days))
            rows["m"][:] = number
            rows["d"][:] = days - reads.EPOCH
            rows["k"][:] = 7125 * np.arange(1, len(days) + 1)
            book = inj.books[name]
            for d in days.tolist():
                inj.orphans.append({"file": name, "primary_key": f"{orphan_meter}|{fmt.date_text[d - fmt.base]}",
                                    "kind": "orphan_reference", "column": "meter_id", "value": orphan_meter})
            book.clean += len(days)
            book.orphans += len(days)
            cols = reads.insert(cols, rows, inj.rng)
        exact_keys: list[str] = []
        if pending and len(cols["m"]) > 0:
            order = stream(seed, f"ami-free-{k}").permutation(len(gap_meter))
            cols, exact_keys = reads.inject(inj, cols, dict(pending), gap_meter[order] + 1,
                                            gap_day[order] - reads.EPOCH, ids["M"], pool, log, texts,
                                            dup_defect=not dup_done[0])
            dup_done[0] = True
            pending.clear()
        # an estimated read replaced by the actual one in a later delivery
        picked = corrections.pick(name, stream(seed, f"ami-corrections-{k}"),
                                  lambda idx: texts.rows(clean, idx), day, est == 0, set(exact_keys),
                                  last=last)
        if picked is not None and picked[0].size:
            take, late = picked
            origin = cols["origin"]
            where = np.empty(n0, dtype=np.int64)
            mine = origin >= 0
            where[origin[mine]] = np.flatnonzero(mine)
            earlier = reads.take(clean, take)
            earlier["k"] = np.rint(np.abs(earlier["k"] / 1000 * 0.9) * 1000).astype(np.int64)
            earlier["q"] = np.ones(take.size, np.int64)
            sink.chunk(cols, where[take], late, earlier)
        else:
            sink.chunk(cols)

    usage_pass(w, ami_first, emit_reads)
    timings["reads simulated"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    reads_rows, reads_deliveries = sink.finish()
    timings["reads written"] = time.perf_counter() - t0
    rows_written[name] = reads_rows
    t0 = time.perf_counter()
    finish_bills(w)
    cx.build_cx(w)
    ids.update({
        "B": _Ids(ip + "B", w.B, 8), "E": _Ids(ip + "BX", w.E, 6), "PY": _Ids(ip + "PY", w.PY, 8),
        "SO": _Ids(ip + "SO", w.SO, 7), "CT": _Ids(ip + "CT", w.CT, 8), "T": _Ids(ip + "T", w.T, 7),
        "U": _Ids(ip + "U", w.U, 6), "EV": _Ids(ip + "EV", w.EV, 9), "S": _Ids(ip + "S", w.SV, 7),
    })
    tables = _format_tables(w, fmt, ids, ip)
    ro = stream(seed, "orphans")
    for name in FILES:
        if name == "raw_ami_daily_reads":
            continue
        cols = tables.pop(name)()
        clean, n_defects = cols, len(inj.defects)
        n = len(cols[FILES[name][0]])
        inj.add_clean(name, n)
        if defect_rate > 0:
            cols = _plant_orphans(name, cols, inj, ids, ro)
            cols = inj.inject(name, cols, inj.quotas(name, n), _fresh_key_factory(name, w, ids, fmt, ro),
                              synthetic=_synthetic_row(name, w, ids, fmt, ip))
        if name == "raw_meter_installs" and defect_rate > 0:
            cols = _plant_overlapping_install(cols, w, ids, fmt, inj, stream(seed, "overlapping-install"))
        if name == "raw_service_orders":
            # an order delivered open, then completed in a later delivery
            corrections.pick(name, stream(seed, "order-corrections"), clean, w.so_created // DAY,
                             w.so_status == ORDER_STATUSES.index("completed"),
                             set(_planted_keys(inj.defects[n_defects:], name, EXACT)))
        rows_written[name] = write_csv(paths[name], FILES[name], cols)
        del cols, clean
        for i in ids.values():  # a million premises: tens of millions of id strings
            i.release()
    timings["other exports as CSV"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for name in FILES:
        inj.add_superseded(name, corrections.count(name))
    if csv_dir != out_dir:  # publish the CSV exports in the asked form
        dup_keys = {name: [tuple(k.split("|")) for k in _planted_keys(inj.defects, name, CONFLICT)]
                    for name in DAY_COLUMNS}
        rows_written, deliveries = publish(csv_dir, out_dir, file_format, layout, start, end,
                                           rows_written, dup_keys, corrections,
                                           prepared={"raw_ami_daily_reads": (reads_rows, reads_deliveries)})
        timings["other exports published"] = time.perf_counter() - t0
    else:
        deliveries = {}
    t0 = time.perf_counter()
    names = {name: output_name(name, file_format, layout) for name in FILES}
    files = {name: inj.books[name].as_dict(names[name]) for name in FILES}
    for name in FILES:
        assert files[name]["raw_rows"] == rows_written[name], (name, files[name], rows_written[name])
    manifest = {
        "generator": "cx_warehouse.generator",
        "version": GENERATOR_VERSION,
        "contract": CONTRACT,
        "params": {
            "accounts": accounts, "start": start.isoformat(), "end": end.isoformat(),
            "seed": seed, "defect_rate": defect_rate,
            "ami_days": None if ami_days is None else int(ami_days),
            "ami_first_date": dt.date.fromordinal(ami_first).isoformat(),
            "format": file_format, "layout": layout,
            # only when set, so that the default output stays what it always was
            **({"id_prefix": id_prefix} if id_prefix else {}),
        },
        "entities": {"premises": int(w.P), "accounts": int(w.A), "customers": int(w.C),
                     "meters": int(w.M), "billing_runs": int(w.R), "tickets": int(w.T)},
        "rows_written": {names[name]: rows_written[name] for name in FILES},
        "files": files,
        "defect_kinds": {name: [k for k in applicable_kinds(name)] for name in FILES}
        if defect_rate > 0 else {},
        "deliveries": deliveries,
        "defects": inj.defects,  # the reads' defects come first (see below)
        "orphans": inj.orphans,
        "integrity": inj.integrity,
        "corrections": corrections.manifest(file_format),
    }
    # no elapsed time in the file, so that the same parameters give identical output
    with open(os.path.join(out_dir, "_manifest.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(_manifest_text(manifest, log.lines(texts, "  ")))
    n_planted = len(log) + len(inj.defects)
    if materialize_defects:
        manifest["defects"] = log.dicts(texts) + inj.defects
    else:
        del manifest["defects"]
    manifest["planted_defects"] = n_planted
    timings["manifest"] = time.perf_counter() - t0
    manifest["timings"] = {k: round(v, 3) for k, v in timings.items()}
    return manifest


_LINE_LISTS = ("defects", "orphans", "integrity", "corrections")


def _manifest_text(m: dict, first_defects: list[str] = ()) -> str:
    """Indented JSON, with one planted defect / orphan / correction / delivery
    per line (fast and diffable); ``first_defects``: the lines of the defects
    that precede ``m["defects"]`` (the reads', built in bulk)."""
    def lines(items, indent, first=()):
        pad = " " * indent
        body = ",\n".join([*first, *(pad + json.dumps(d, ensure_ascii=False) for d in items)])
        return f"[\n{body}\n{pad[:-1]}]" if items or first else "[]"

    head = json.dumps({k: v for k, v in m.items() if k not in _LINE_LISTS + ("deliveries",)},
                      indent=1, ensure_ascii=False)
    parts = [head[:-2]]
    deliveries = m.get("deliveries", {})
    if deliveries:
        body = ",\n".join(f'  {json.dumps(k)}: {lines(v, 3)}' for k, v in deliveries.items())
        parts.append(f',\n "deliveries": {{\n{body}\n }}')
    else:
        parts.append(',\n "deliveries": {}')
    for key in _LINE_LISTS:
        parts.append(f',\n "{key}": {lines(m.get(key, []), 2, first_defects if key == "defects" else ())}')
    parts.append("\n}\n")
    return "".join(parts)


# ---------------------------------------------------------------------------
def _format_tables(w, fmt: Fmt, ids, id_prefix: str = "") -> dict:
    """Per file, a function that formats its columns (one table in memory at a time)."""
    T: dict = {}
    C, A, P, M, R = ids["C"], ids["A"], ids["P"], ids["M"], ids["R"]
    T["raw_customers"] = lambda: {
        "customer_id": C.all,
        "full_name": w.c_name,
        "email": w.c_email,
        "phone": _phone_text(w.c_phone, w.c_phone_fmt, caller=False),
        "birth_date": fmt.date(np.maximum(w.c_birth, fmt.base), empty=w.c_birth < 0),
        "survey_opt_out": _obj(["false", "true"])[w.c_opt_out.astype(np.int64)],
    }
    T["raw_accounts"] = lambda: {
        "account_id": A.all,
        "customer_id": C.of(w.a_cust),
        "premise_id": P.of(w.a_prem),
        "account_class": _obj(CLASS_NAMES)[w.a_class],
        "rate_code": _obj(RATE_CODES)[w.a_rate],
        "service_area": _obj(AREAS)[w.p_area[w.a_prem]],
        "opened_date": fmt.date(w.a_open),
        "closed_date": fmt.date(np.minimum(w.a_close, w.end_o), empty=w.a_close >= NONE_DAY),
    }
    T["raw_meter_installs"] = lambda: {
        "meter_id": M.all,
        "premise_id": P.of(w.m_prem),
        "installed_date": fmt.date(w.m_inst),
        "removed_date": fmt.date(np.minimum(w.m_rem, w.end_o), empty=w.m_rem >= NONE_DAY),
    }
    T["raw_billing_runs"] = lambda: {
        "billing_run_id": R.all,
        "run_date": fmt.date(w.r_date),
        "bill_cycle": _obj(CYCLES)[w.r_cycle],
    }
    B = ids["B"]
    T["raw_bills"] = lambda: {
        "bill_id": B.all,
        "account_id": A.of(w.b_acc),
        "billing_run_id": R.of(w.b_run),
        "bill_date": fmt.date(w.b_date),
        "service_period_start": fmt.date(w.b_start),
        "service_period_end": fmt.date(w.b_end),
        "billed_kwh": fmt_fixed(w.b_kwh, 2),
        "amount_due": fmt_fixed(w.b_amount, 2),
        "is_estimated": _obj(["false", "true"])[w.b_est.astype(np.int64)],
        "corrects_bill_id": B.of_opt(w.b_corrects),
    }
    T["raw_billing_exceptions"] = lambda: {
        "exception_id": ids["E"].all,
        "billing_run_id": R.of(w.e_run),
        "bill_id": B.of_opt(w.e_bill),
        "account_id": A.of(w.e_acc),
        "exception_type": _obj(EXCEPTION_TYPES)[w.e_type],
        "raised_at": fmt.ts(w.e_raised),
        "resolved_at": fmt.ts(w.e_resolved, empty=w.e_resolved < 0),
    }
    T["raw_payments"] = lambda: {
        "payment_id": ids["PY"].all,
        "account_id": A.of(w.py_acc),
        "paid_at": fmt.ts(w.py_t),
        "amount": fmt_fixed(w.py_amount, 2),
        "payment_channel": _obj(PAYMENT_CHANNELS)[w.py_channel],
    }
    T["raw_service_orders"] = lambda: {
        "service_order_id": ids["SO"].all,
        "account_id": A.of(w.so_acc),
        "order_type": _obj(ORDER_TYPES)[w.so_type],
        "status": _obj(ORDER_STATUSES)[w.so_status],
        "created_at": fmt.ts(w.so_created),
        "completed_at": fmt.ts(w.so_completed, empty=w.so_completed < 0),
    }
    agents = fmt_ids(id_prefix + "AG", np.arange(1, w.n_agents + 1), 4)
    ivr = w.ct_talk < 0
    T["raw_contacts"] = lambda: {
        "contact_id": ids["CT"].all,
        "ticket_id": ids["T"].of_opt(w.ct_ticket),
        "account_id": A.of_opt(w.ct_acc),
        "caller_phone": _phone_text(w.ct_phone, w.ct_phone_fmt, caller=True),
        "channel": _obj(CONTACT_CHANNELS)[w.ct_channel],
        "reason_code": _obj(REASON_CODES)[w.ct_reason],
        "started_at": fmt.ts(w.ct_t),
        "agent_id": np.where(w.ct_agent >= 0, agents[np.maximum(w.ct_agent, 0)], "").astype(object),
        "talk_seconds": fmt_int(np.maximum(w.ct_talk, 0), empty=ivr),
        "hold_seconds": fmt_int(np.maximum(w.ct_hold, 0), empty=ivr),
        "wrap_seconds": fmt_int(np.maximum(w.ct_wrap, 0), empty=ivr),
        "resolution_status": _obj(RESOLUTIONS)[w.ct_status],
    }
    T["raw_portal_users"] = lambda: {
        "portal_user_id": ids["U"].all,
        "account_id": A.of(w.u_acc),
        "email": w.u_email,
        "registered_at": fmt.ts(w.u_reg),
    }
    T["raw_portal_events"] = lambda: {
        "event_id": ids["EV"].all,
        "portal_user_id": ids["U"].of(w.ev_user),
        "event_at": fmt.ts(w.ev_t),
        "channel": _obj(PORTAL_CHANNELS)[w.ev_channel],
        "event_type": _obj(EVENT_TYPES)[w.ev_type],
    }
    T["raw_delivery_preferences"] = lambda: {
        "account_id": A.of(w.dp_acc),
        "delivery_method": _obj(DELIVERY_METHODS)[w.dp_method],
        "effective_date": fmt.date(w.dp_day),
    }
    trig = np.empty(w.SV, dtype=object)
    for rank, key in enumerate(("CT", "SO", "PY", "B")):
        m = w.sv_type == rank
        trig[m] = ids[key].text(w.sv_trigger[m])
    T["raw_surveys"] = lambda: {
        "survey_id": ids["S"].all,
        "account_id": A.of(w.sv_acc),
        "trigger_type": _SURVEY_TYPES[w.sv_type],
        "trigger_id": trig,
        "sent_at": fmt.ts(w.sv_sent),
        "responded_at": fmt.ts(w.sv_resp, empty=w.sv_resp < 0),
        "score": fmt_int(np.maximum(w.sv_score, 0), empty=w.sv_score < 0),
    }
    return T


def _synthetic_row(name, w, ids, fmt: Fmt, id_prefix: str = "") -> dict:
    """A valid-looking row, used as a defect template when a file is empty."""
    def one(key, n):
        return ids[key].of([0])[0] if n else ids[key].fresh()

    d0 = fmt.date_text[w.start_o - fmt.base]
    t0 = d0 + " 10:15:00"
    t1 = d0 + " 11:20:00"
    acc = one("A", w.A)
    rows = {
        "raw_customers": {"customer_id": "", "full_name": "Pat Doe", "email": "pat.doe@example.com",
                          "phone": "(555) 201-0000", "birth_date": "1980-05-05", "survey_opt_out": "false"},
        "raw_accounts": {"account_id": "", "customer_id": one("C", w.C), "premise_id": one("P", w.P),
                         "account_class": "residential", "rate_code": "RES-STD",
                         "service_area": "NORTH", "opened_date": d0, "closed_date": ""},
        "raw_meter_installs": {"meter_id": "", "premise_id": one("P", w.P), "installed_date": d0,
                               "removed_date": ""},
        "raw_ami_daily_reads": {"meter_id": "", "read_date": d0, "kwh": "12.345", "read_quality": "actual"},
        "raw_billing_runs": {"billing_run_id": "", "run_date": d0, "bill_cycle": "01"},
        "raw_bills": {"bill_id": "", "account_id": acc, "billing_run_id": one("R", w.R), "bill_date": d0,
                      "service_period_start": d0, "service_period_end": d0, "billed_kwh": "25.00",
                      "amount_due": "4.20", "is_estimated": "false", "corrects_bill_id": ""},
        "raw_billing_exceptions": {"exception_id": "", "billing_run_id": one("R", w.R), "bill_id": "",
                                   "account_id": acc, "exception_type": "missing_read",
                                   "raised_at": t0, "resolved_at": t1},
        "raw_payments": {"payment_id": "", "account_id": acc, "paid_at": t0, "amount": "42.10",
                         "payment_channel": "mail"},
        "raw_service_orders": {"service_order_id": "", "account_id": acc, "order_type": "reconnect",
                               "status": "completed", "created_at": t0, "completed_at": t1},
        "raw_contacts": {"contact_id": "", "ticket_id": "", "account_id": acc, "caller_phone": "",
                         "channel": "phone", "reason_code": "other", "started_at": t0, "agent_id": id_prefix + "AG0001",
                         "talk_seconds": "240", "hold_seconds": "0", "wrap_seconds": "45",
                         "resolution_status": "resolved"},
        "raw_portal_users": {"portal_user_id": "", "account_id": acc, "email": "pat.doe@example.com",
                             "registered_at": t0},
        "raw_portal_events": {"event_id": "", "portal_user_id": one("U", w.U), "event_at": t1,
                              "channel": "web", "event_type": "login"},
        "raw_delivery_preferences": {"account_id": acc, "delivery_method": "ebill", "effective_date": d0},
        "raw_surveys": {"survey_id": "", "account_id": acc, "trigger_type": "bill", "trigger_id": one("B", w.B),
                        "sent_at": t0, "responded_at": t1, "score": "4"},
    }
    return rows[name]


def _plant_orphans(name, cols, inj: Injector, ids, r) -> dict:
    """A few kept rows whose reference points at nothing."""
    n = len(cols[FILES[name][0]])
    if n == 0:
        return cols
    header = FILES[name]

    def copy_row():
        i = int(r.integers(0, n))
        return {c: cols[c][i] for c in header}

    def two_orphans(own_id: str, own_kind: str, blank: str) -> dict:
        """Two copied rows with a fresh id of their own and of an account that does not exist."""
        rows = []
        for _ in range(2):
            row = copy_row()
            row.update({own_id: ids[own_kind].fresh(), "account_id": ids["A"].fresh(), blank: ""})
            rows.append(row)
        return inj.add_orphans(name, cols, rows, "account_id")

    if name == "raw_bills":
        return two_orphans("bill_id", "B", "corrects_bill_id")
    if name == "raw_contacts":
        return two_orphans("contact_id", "CT", "ticket_id")
    if name == "raw_payments":
        row = copy_row()
        row.update(payment_id=ids["PY"].fresh(), account_id=ids["A"].fresh())
        return inj.add_orphans(name, cols, [row], "account_id")
    return cols


def _plant_overlapping_install(cols, w, ids, fmt: Fmt, inj: Injector, r) -> dict:
    """One kept integrity defect: a second install of an existing meter at another
    premise, starting (on a later day, so under another key) while the meter is
    still installed at its real premise."""
    first = np.maximum(w.m_inst + 1, w.start_o)
    stop = np.minimum(w.m_rem, w.end_o + 1)  # first day no longer installed (or after the end)
    room = np.flatnonzero(stop > first)
    if room.size == 0 or w.P < 2:
        return cols
    m = int(room[r.integers(0, room.size)])
    day = int(r.integers(first[m], stop[m]))
    premise = (int(w.m_prem[m]) + 1 + int(r.integers(0, w.P - 1))) % w.P
    row = {"meter_id": ids["M"].of([m])[0], "premise_id": ids["P"].of([premise])[0],
           "installed_date": fmt.date_text[day - fmt.base], "removed_date": ""}
    return inj.add_integrity("raw_meter_installs", cols, row, OVERLAPPING_INSTALL, r,
                             meter_id=row["meter_id"])


def _fresh_key_factory(name, w, ids, fmt: Fmt, r):
    key_cols = KEYS[name]
    if name == "raw_delivery_preferences":
        used = set(zip(w.dp_acc.tolist(), w.dp_day.tolist()))

        def fresh(row):
            if w.A == 0:
                return {"account_id": ids["A"].fresh(), "effective_date": fmt.date_text[w.start_o - fmt.base]}
            for _ in range(100):
                a = int(r.integers(0, w.A))
                d = int(r.integers(max(w.start_o - 3 * 365, w.a_open[a]), w.end_o + 1))
                if (a, d) not in used:
                    used.add((a, d))
                    return {"account_id": ids["A"].of([a])[0], "effective_date": fmt.date_text[d - fmt.base]}
            return {"account_id": ids["A"].fresh(), "effective_date": fmt.date_text[w.start_o - fmt.base]}
        return fresh
    prefix_key = {
        "raw_customers": "C", "raw_accounts": "A", "raw_meter_installs": "M",
        "raw_billing_runs": "R", "raw_bills": "B", "raw_billing_exceptions": "E",
        "raw_payments": "PY", "raw_service_orders": "SO", "raw_contacts": "CT",
        "raw_portal_users": "U", "raw_portal_events": "EV", "raw_surveys": "S",
    }[name]
    col = key_cols[0]

    def fresh(row):
        return {col: ids[prefix_key].fresh()}
    return fresh


# ---------------------------------------------------------------------------
def _date_arg(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m cx_warehouse.generator",
        description="Generate the 14 CIS exports (CSV or Parquet, one file per export or daily "
                    "deliveries) and _manifest.json of a synthetic utility, deterministic for a "
                    "given seed, with optional planted defects.")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--accounts", type=int, default=300, metavar="N",
                   help="number of service premises, each with a chain of accounts (default 300)")
    p.add_argument("--start", type=_date_arg, default=dt.date(2024, 1, 1), metavar="YYYY-MM-DD",
                   help="first day (default 2024-01-01)")
    p.add_argument("--end", type=_date_arg, default=dt.date(2025, 12, 31), metavar="YYYY-MM-DD",
                   help="last day, inclusive (default 2025-12-31)")
    p.add_argument("--seed", type=int, default=42, metavar="N", help="random seed (default 42)")
    p.add_argument("--defect-rate", type=float, default=0.01, metavar="F",
                   help="share of defective rows per file, 0 disables defects (default 0.01)")
    p.add_argument("--ami-days", type=int, default=None, metavar="N",
                   help="only write smart-meter reads for the last N days (default: whole range)")
    p.add_argument("--format", dest="file_format", choices=FORMATS, default="csv",
                   help="file format of the exports (default csv)")
    p.add_argument("--layout", choices=LAYOUTS, default="files",
                   help="files: one file per export; deliveries: event exports as folders of "
                        "daily files raw_X/YYYY-MM-DD.<ext>, with late corrections (default files)")
    p.add_argument("--id-prefix", default="", metavar="TEXT",
                   help="put TEXT in front of every generated id (e.g. B: BM0000001, BP000001), so "
                        "that runs with different prefixes do not collide (default: none)")
    p.add_argument("--timings", action="store_true", help="print the seconds per phase to stderr")
    args = p.parse_args(argv)
    errors = []
    if args.end < args.start:
        errors.append("--end must be on or after --start")
    if args.accounts < 1:
        errors.append("--accounts must be >= 1")
    if not (0 <= args.defect_rate < 0.5):
        errors.append("--defect-rate must be >= 0 and < 0.5")
    if args.ami_days is not None and args.ami_days < 1:
        errors.append("--ami-days must be >= 1")
    if not _ID_PREFIX.fullmatch(args.id_prefix):
        errors.append("--id-prefix must be letters, digits, '_' or '-'")
    if errors:
        p.print_usage(sys.stderr)
        for e in errors:
            print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 2
    m = generate(args.out, accounts=args.accounts, start=args.start, end=args.end, seed=args.seed,
                 defect_rate=args.defect_rate, ami_days=args.ami_days, file_format=args.file_format,
                 layout=args.layout, materialize_defects=False, id_prefix=args.id_prefix)
    counts = ", ".join(f"{name[4:]}={n}" for name, n in zip(FILES, m["rows_written"].values()))
    print(f"wrote {len(m['rows_written'])} exports ({args.layout}, {args.file_format}) to {args.out} "
          f"in {m['elapsed_seconds']:.1f}s ({m['planted_defects']} planted defects, "
          f"{len(m['corrections'])} late corrections): {counts}")
    if args.timings:
        print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in m["timings"].items()), file=sys.stderr)
    return 0

