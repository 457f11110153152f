"""Planting defective rows (the contract's "Bad input") and keeping the books.

Every defective row gets a *fresh* primary key, so it never breaks a clean
row.  The only rows that share a key are the two rows of a planted
conflicting duplicate, and both of them are defective by definition (and the
copies of an exact duplicate; in the deliveries layout also the earlier
version of a late correction, see layout).  The injector counts what it
writes, so the manifest's reconciliation
(raw = kept + duplicate + rejected + superseded) is true of the files by
construction.  Besides defects it plants *kept* rows that break no row rule
but a cross-row rule: orphan references and integrity defects (an
overlapping meter install).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .common import DOMAINS, FILES, KEYS, LATER_COLUMNS, NON_NEGATIVE, OPTIONAL, TYPES

MISSING = "missing_required"
UNPARSEABLE = "unparseable"
DOMAIN = "out_of_domain"
NEGATIVE = "negative_value"
SCORE = "score_out_of_range"
COMPLETED = "completed_at_mismatch"
EXACT = "exact_duplicate"
CONFLICT = "conflicting_duplicate"
ORPHAN = "orphan_reference"
OVERLAPPING_INSTALL = "overlapping_install"

REJECTING_KINDS = (MISSING, UNPARSEABLE, DOMAIN, NEGATIVE, SCORE, COMPLETED, CONFLICT)

BAD_VALUES = {
    "date": ("2024-13-45", "yesterday", "2023-02-29", "not-a-date", "2024-00-10"),
    "timestamp": ("2024-13-45 10:00:00", "yesterday 10:00", "2024-06-31 08:00:00",
                  "2024-05-06 25:61:00", "soon"),
    "decimal": ("abc", "12,5", "1.2.3", "n/a", "12.5kWh"),
    "integer": ("12.5", "abc", "3O", "7 min"),
    "boolean": ("yes", "maybe", "2"),
}
OUT_OF_DOMAIN = {
    "account_class": ("residental", "agricultural", "comercial"),
    "read_quality": ("interpolated", "missing", "est"),
    "payment_channel": ("fax", "bitcoin", "cheque"),
    "order_type": ("disconnect", "upgrade"),
    "status": ("pending", "done"),
    "channel": ("fax", "sms", "letter", "kiosk"),
    "reason_code": ("complaint", "billing"),
    "resolution_status": ("closed", "pending"),
    "event_type": ("logout", "view_profile"),
    "delivery_method": ("email", "sms", "fax"),
    "trigger_type": ("visit", "email"),
}
BAD_SCORES = ("0", "6", "3.5", "10")
CONFLICT_COLUMNS = {
    "raw_customers": ("full_name", "email"),
    "raw_accounts": ("service_area", "rate_code"),
    "raw_meter_installs": ("premise_id",),  # installed_date is part of the key
    "raw_ami_daily_reads": ("kwh",),
    "raw_billing_runs": ("run_date",),
    "raw_bills": ("amount_due", "billed_kwh"),
    "raw_billing_exceptions": ("exception_type", "raised_at"),
    "raw_payments": ("amount", "paid_at"),
    "raw_service_orders": ("created_at",),
    "raw_contacts": ("started_at", "reason_code"),
    "raw_portal_users": ("email", "registered_at"),
    "raw_portal_events": ("event_at",),
    "raw_delivery_preferences": ("delivery_method",),
    "raw_surveys": ("sent_at",),
}


def applicable_kinds(name: str) -> list[str]:
    kinds = [MISSING, UNPARSEABLE]
    if name in DOMAINS:
        kinds.append(DOMAIN)
    if name in NON_NEGATIVE:
        kinds.append(NEGATIVE)
    if name == "raw_surveys":
        kinds.append(SCORE)
    if name == "raw_service_orders":
        kinds.append(COMPLETED)
    kinds += [EXACT, CONFLICT]
    return kinds


class FileBook:
    def __init__(self, name: str):
        self.name = name
        self.clean = 0
        self.defect_rows = 0
        self.copies = 0
        self.orphans = 0
        self.superseded = 0
        self.by_kind: dict[str, int] = {}

    def as_dict(self, file_name: str | None = None) -> dict:
        raw = self.clean + self.defect_rows + self.copies + self.superseded
        return {
            "file": file_name or self.name + ".csv",
            "raw_rows": raw,
            "kept_rows": self.clean,
            "duplicate_rows": self.copies,
            "rejected_rows": self.defect_rows,
            "superseded_rows": self.superseded,
            "orphan_rows": self.orphans,
            "defects_by_kind": dict(sorted(self.by_kind.items())),
        }


class Injector:
    """Plants defects into string columns (dict of column -> object array)."""

    def __init__(self, rng: np.random.Generator, rate: float):
        self.rng = rng
        self.rate = rate
        self.books = {name: FileBook(name) for name in FILES}
        self.defects: list[dict] = []
        self.orphans: list[dict] = []
        self.integrity: list[dict] = []

    # ------------------------------------------------------------------
    def quotas(self, name: str, n_clean: int) -> dict[str, int]:
        if self.rate <= 0:
            return {}
        kinds = applicable_kinds(name)
        per = self.rate * n_clean / len(kinds)
        out = {}
        for k in kinds:
            q = max(1, int(round(per)))
            if k == CONFLICT:
                q = max(1, q // 2)  # two rows per key
            out[k] = q
        return out

    def add_clean(self, name: str, n: int) -> None:
        self.books[name].clean += n

    def add_superseded(self, name: str, n: int) -> None:
        """Earlier versions of rows that a later delivery replaces (raw, not kept)."""
        self.books[name].superseded += n

    def add_orphans(self, name: str, cols: dict, rows: list[dict], column: str) -> dict:
        """Append kept rows whose reference points at nothing."""
        if not rows:
            return cols
        book = self.books[name]
        for row in rows:
            self.orphans.append({"file": name, "primary_key": self.key_text(name, row),
                                 "kind": ORPHAN, "column": column, "value": row[column]})
        book.clean += len(rows)
        book.orphans += len(rows)
        return self._insert(cols, rows)

    def add_integrity(self, name: str, cols: dict, row: dict, kind: str, rng: np.random.Generator,
                      **fields) -> dict:
        """Insert one kept row that breaks a cross-row rule (e.g. an overlapping install).

        ``rng`` (its own stream) places the row, so the defects planted after
        it do not move.
        """
        self.integrity.append({"file": name, "kind": kind, **fields,
                               "primary_key": self.key_text(name, row)})
        self.books[name].clean += 1
        return self._insert(cols, [row], rng)

    @staticmethod
    def key_text(name: str, row: dict) -> str:
        return "|".join(row[c] for c in KEYS[name])

    # ------------------------------------------------------------------
    def inject(self, name: str, cols: dict, quotas: dict[str, int],
               fresh_key: Callable[[dict], dict], dup_defect: bool = True,
               synthetic: dict | None = None) -> dict:
        """Return the columns with defective rows inserted at random places.

        ``fresh_key(template_row)`` returns the key columns of a new, unused key.
        ``synthetic`` is a valid-looking row used as the template when the file
        has no clean row to copy (tiny sets).
        """
        if not quotas:
            return cols
        r = self.rng
        header = FILES[name]
        key_cols = KEYS[name]
        n = len(cols[header[0]])
        book = self.books[name]
        if n == 0:
            if synthetic is None:
                return cols
            cols = {c: np.array([synthetic[c]], dtype=object) for c in header}
            n = 1
            only_synthetic = True
        else:
            only_synthetic = False
        used_keys: set = set()
        new_rows: list[dict] = []
        plain_defects: list[dict] = []

        def template(pred=None, tries=60):
            for _ in range(tries):
                i = int(r.integers(0, n))
                row = {c: cols[c][i] for c in header}
                if pred is None or pred(row):
                    return row
            return {c: cols[c][int(r.integers(0, n))] for c in header}

        def with_key(row):
            for _ in range(200):
                k = fresh_key(row)
                out = dict(row)
                out.update(k)
                key = tuple(out[c] for c in key_cols)
                if key not in used_keys:
                    return out
            raise RuntimeError(f"could not find a fresh key for {name}")

        def record(row, kind, column, rows=1, **extra):
            key = tuple(row[c] for c in key_cols)
            used_keys.add(key)
            d = {"file": name, "primary_key": "|".join(key), "kind": kind, "column": column,
                 "rows": rows, "outcome": "rejected"}
            d.update(extra)
            self.defects.append(d)
            book.by_kind[kind] = book.by_kind.get(kind, 0) + rows
            return d

        required = [c for c in header if c not in OPTIONAL[name] and c not in key_cols]
        typed = [c for c in TYPES[name] if c not in LATER_COLUMNS.get(name, ())]
        domain_cols = list(DOMAINS.get(name, {}))
        for kind, q in quotas.items():
            for _ in range(q):
                if kind == MISSING:
                    row = with_key(template())
                    col = required[int(r.integers(0, len(required)))]
                    row[col] = ""
                elif kind == UNPARSEABLE:
                    col = typed[int(r.integers(0, len(typed)))]
                    bad = BAD_VALUES[TYPES[name][col]]
                    for _ in range(50):
                        row = with_key(template())
                        row[col] = bad[int(r.integers(0, len(bad)))]
                        if tuple(row[c] for c in key_cols) not in used_keys:
                            break
                elif kind == DOMAIN:
                    col = domain_cols[int(r.integers(0, len(domain_cols)))]
                    row = with_key(template())
                    vals = OUT_OF_DOMAIN[col]
                    row[col] = vals[int(r.integers(0, len(vals)))]
                elif kind == NEGATIVE:
                    nn = NON_NEGATIVE[name]
                    col = nn[int(r.integers(0, len(nn)))]
                    row = with_key(template(lambda x: x[col] not in ("", "0", "0.000")))
                    v = row[col] if row[col] not in ("", "0", "0.000") else "1"
                    row[col] = "-" + v
                elif kind == SCORE:
                    col = "score"
                    row = with_key(template(lambda x: x["score"] != ""))
                    if row["responded_at"] == "":
                        row["responded_at"] = row["sent_at"]
                    row[col] = BAD_SCORES[int(r.integers(0, len(BAD_SCORES)))]
                elif kind == COMPLETED:
                    col = "completed_at"
                    want_completed = bool(r.random() < 0.5)
                    row = with_key(template(lambda x: (x["status"] == "completed") == want_completed))
                    if row["status"] == "completed":
                        row["completed_at"] = ""
                    else:
                        row["completed_at"] = row["created_at"]
                elif kind == CONFLICT:
                    row = with_key(template())
                    col, other = self._conflicting_value(name, cols, row)
                    row2 = dict(row)
                    row2[col] = other
                    record(row, CONFLICT, col, rows=2)
                    new_rows += [row, row2]
                    continue
                elif kind == EXACT:
                    continue
                else:  # pragma: no cover
                    raise ValueError(kind)
                record(row, kind, col)
                new_rows.append(row)
                plain_defects.append(row)
        book.defect_rows += len(new_rows)
        # exact duplicates of clean rows (and one of a rejected row)
        q = quotas.get(EXACT, 0)
        copies_rows: list[dict] = []
        if q and not only_synthetic:
            picks = r.choice(n, size=min(q, n), replace=False)
            for i in np.sort(picks).tolist():
                row = {c: cols[c][i] for c in header}
                k = 1 if r.random() < 0.8 else 2
                copies_rows += [row] * k
                key = "|".join(row[c] for c in key_cols)
                self.defects.append({"file": name, "primary_key": key, "kind": EXACT, "column": None,
                                     "rows": k, "outcome": "duplicate", "of": "clean"})
                book.by_kind[EXACT] = book.by_kind.get(EXACT, 0) + k
        if dup_defect and plain_defects:
            row = plain_defects[int(r.integers(0, len(plain_defects)))]
            copies_rows.append(row)
            key = "|".join(row[c] for c in key_cols)
            self.defects.append({"file": name, "primary_key": key, "kind": EXACT, "column": None,
                                 "rows": 1, "outcome": "duplicate", "of": "rejected"})
            book.by_kind[EXACT] = book.by_kind.get(EXACT, 0) + 1
        book.copies += len(copies_rows)
        if only_synthetic:
            # nothing clean to keep: write the defects (and copies) alone
            cols = {c: np.empty(0, dtype=object) for c in header}
        return self._insert(cols, new_rows + copies_rows)

    # ------------------------------------------------------------------
    def _conflicting_value(self, name, cols, row):
        r = self.rng
        choices = CONFLICT_COLUMNS[name]
        col = choices[int(r.integers(0, len(choices)))]
        values = cols[col]
        for _ in range(30):
            v = values[int(r.integers(0, len(values)))]
            if v != row[col] and v != "":
                return col, v
        # fall back to a deterministic valid change
        v = row[col]
        t = TYPES[name].get(col)
        if t == "decimal":
            return col, f"{float(v) + 1:.2f}"
        if t in ("date", "timestamp"):
            import datetime as dt
            d = dt.date.fromisoformat(v[:10]) + dt.timedelta(days=1)
            return col, d.isoformat() + v[10:]
        if name in DOMAINS and col in DOMAINS[name]:
            dom = [x for x in DOMAINS[name][col] if x != v]
            return col, dom[0]
        return col, v + " (2)"

    def _insert(self, cols: dict, rows: list[dict], rng: np.random.Generator | None = None) -> dict:
        if not rows:
            return cols
        rng = self.rng if rng is None else rng
        first = next(iter(cols))
        n = len(cols[first])
        pos = np.sort(rng.integers(0, n + 1, len(rows)))
        perm = rng.permutation(len(rows))
        out = {}
        for c, arr in cols.items():
            vals = np.empty(len(rows), dtype=object)
            vals[:] = [rows[j][c] for j in perm.tolist()]
            out[c] = np.insert(np.asarray(arr, dtype=object), pos, vals)
        return out
