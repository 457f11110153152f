"""The smart-meter reads (raw_ami_daily_reads) without a text round trip.

The reads are by far the largest export (about 365 per premise a year), so
they never become Python strings: every row is numbers,

    m   meter number (the digits of M0000001; fresh numbers for defects)
    d   read day (epoch day)
    k   kWh in thousandths (negative: a planted negative value)
    q   0 actual, 1 estimated
    oc  which column holds a text override (0 none, 1 read_date, 2 kwh,
        3 read_quality), ov its index into the run's :class:`Pool`

and DuckDB formats ids, dates and decimals when it writes the files.

Planted defects: :func:`inject` plants exactly the rows that
:meth:`defects.Injector.inject` would plant into the text columns, drawing
the same random numbers from the same generator.  The per-defect draws
(``integers(0, b)`` one at a time) are replayed in bulk by :class:`Draws`,
which reproduces numpy's bounded draws (Lemire's method on the PCG64 32-bit
stream) and hands the generator back positioned where the one-at-a-time
draws would have left it; the rare data-dependent retries (a template with
0 kWh for a negative value, a conflicting value equal to the template's, a
repeated key) are replayed one defect at a time.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re

import numpy as np

from ..contract import sql_literal
from .common import FILES, OPTIONAL, TYPES, KEYS
from .defects import (
    BAD_VALUES, COMPLETED, CONFLICT, DOMAIN, EXACT, MISSING, NEGATIVE, OUT_OF_DOMAIN, SCORE,
    UNPARSEABLE,
)

NAME = "raw_ami_daily_reads"
EPOCH = dt.date(1970, 1, 1).toordinal()
RECORD = np.dtype([("m", "<i4"), ("d", "<i4"), ("k", "<i4"), ("q", "u1"), ("oc", "u1"), ("ov", "<u2")])
COLUMNS = {"read_date": 1, "kwh": 2, "read_quality": 3}
_COL_NAMES = {v: k for k, v in COLUMNS.items()}
_MASK = np.uint64(0xFFFFFFFF)


# ---------------------------------------------------------------------------
class Draws:
    """``rng.integers(0, b)`` called one at a time, replayed in bulk.

    numpy's Generator draws a bounded integer below 2**32 from the bit
    generator's 32-bit stream (the low, then the high half of each 64-bit
    output) with Lemire's method: ``m = u32 * b``, rejected while
    ``m mod 2**32 < (2**32 - b) mod b``; ``b == 1`` draws nothing.  Call
    :meth:`close` to leave the generator where the scalar calls would have.
    """

    BLOCK = 1 << 16

    def __init__(self, rng: np.random.Generator):
        self.bg = rng.bit_generator
        self.state0 = self.bg.state
        if self.state0["bit_generator"] != "PCG64":  # pragma: no cover
            raise ValueError("Draws replays PCG64 only")
        self.carry = [np.uint32(self.state0["uinteger"])] if self.state0["has_uint32"] else []
        self.buf = np.array(self.carry, dtype=np.uint64)
        self.raw_taken = 0
        self.pos = 0

    def _ensure(self, upto: int) -> None:
        if upto <= self.buf.size:
            return
        want = max(self.BLOCK, (upto - self.buf.size + 1) // 2 + 1)
        raw = self.bg.random_raw(want)
        self.raw_taken += want
        halves = np.empty(2 * want, dtype=np.uint64)
        halves[0::2] = raw & _MASK
        halves[1::2] = raw >> np.uint64(32)
        self.buf = np.concatenate([self.buf, halves])

    def one(self, b: int) -> int:
        if b <= 1:
            return 0
        thr = (2 ** 32 - b) % b
        while True:
            self._ensure(self.pos + 1)
            x = int(self.buf[self.pos])
            self.pos += 1
            m = x * b
            if (m & 0xFFFFFFFF) >= thr:
                return m >> 32

    def seq(self, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Draws for ``bounds`` in order; also the stream position after each."""
        bounds = np.asarray(bounds, dtype=np.int64)
        live = bounds > 1
        if live.all():
            return self._seq(bounds)
        start = self.pos
        v, a = self._seq(bounds[live])
        out = np.zeros(bounds.size, dtype=np.int64)
        out[live] = v
        prev = np.cumsum(live) - 1
        after = np.where(prev >= 0, a[np.maximum(prev, 0)] if a.size else start, start)
        return out, after

    def _seq(self, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bounds = np.asarray(bounds, dtype=np.uint64)
        n = bounds.size
        out = np.empty(n, dtype=np.int64)
        after = np.empty(n, dtype=np.int64)
        j = 0
        thr_all = (np.uint64(2 ** 32) - bounds) % bounds
        while j < n:
            need = n - j
            self._ensure(self.pos + need)
            x = self.buf[self.pos:self.pos + need]
            m = x * bounds[j:]
            bad = (m & _MASK) < thr_all[j:]
            f = int(np.argmax(bad)) if bad.any() else need
            out[j:j + f] = (m[:f] >> np.uint64(32)).astype(np.int64)
            after[j:j + f] = self.pos + 1 + np.arange(f)
            self.pos += f
            j += f
            if j < n:  # a rejection: this draw takes more of the stream
                out[j] = self.one(int(bounds[j]))
                after[j] = self.pos
                j += 1
        return out, after

    def close(self) -> None:
        """Position the generator after the consumed draws."""
        used = self.pos
        bg = self.bg
        bg.state = self.state0
        st = bg.state
        if self.carry:
            if used == 0:
                return
            used -= 1
            st["has_uint32"], st["uinteger"] = 0, 0
            bg.state = st
        full, odd = divmod(used, 2)
        if odd:
            raw = bg.random_raw(full + 1)
            st = bg.state
            st["has_uint32"], st["uinteger"] = 1, int(raw[-1] >> np.uint64(32))
        else:
            if full:
                bg.random_raw(full)
            st = bg.state
            st["has_uint32"], st["uinteger"] = 0, 0
        bg.state = st


# ---------------------------------------------------------------------------
class Pool:
    """The texts that override a read's column (bad values, '' = NULL)."""

    def __init__(self):
        self.texts: list[str] = [""]
        self.index: dict[str, int] = {"": 0}
        self.used: set[tuple[int, int]] = set()  # (oc, ov) pairs present in the output

    def code(self, text: str) -> int:
        i = self.index.get(text)
        if i is None:
            if json.dumps(text, ensure_ascii=False) != f'"{text}"':  # pragma: no cover
                raise ValueError(f"pool text needs escaping: {text!r}")
            i = self.index[text] = len(self.texts)
            self.texts.append(text)
        return i

    def sql_list(self) -> str:
        items = ", ".join("NULL" if t == "" else "'" + t.replace("'", "''") + "'" for t in self.texts)
        return f"[{items}]"


def new_cols(n: int = 0) -> dict:
    return {"m": np.zeros(n, np.int64), "d": np.zeros(n, np.int64), "k": np.zeros(n, np.int64),
            "q": np.zeros(n, np.int64), "oc": np.zeros(n, np.int64), "ov": np.zeros(n, np.int64),
            "origin": np.full(n, -1, np.int64)}


def concat(parts: list[dict]) -> dict:
    return {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}


def take(cols: dict, idx) -> dict:
    return {c: a[idx] for c, a in cols.items()}


def insert(cols: dict, rows: dict, rng: np.random.Generator) -> dict:
    """Defects.Injector._insert for numeric columns (same draws, same places)."""
    m = len(rows["m"])
    if m == 0:
        return cols
    n = len(cols["m"])
    pos = np.sort(rng.integers(0, n + 1, m))
    perm = rng.permutation(m)
    return {c: np.insert(cols[c], pos, rows[c][perm]) for c in cols}


class Texts:
    """Text of numeric read rows (for keys in the manifest, a few rows at a time)."""

    def __init__(self, width: int, pool: Pool, prefix: str = "M"):
        self.width, self.pool, self.prefix = width, pool, prefix

    def meter(self, m) -> np.ndarray:
        return np.array([f"{self.prefix}{int(x):0{self.width}d}" for x in np.asarray(m).tolist()], dtype=object)

    def date(self, d, oc, ov) -> np.ndarray:
        out = []
        for dd, c, v in zip(np.asarray(d).tolist(), np.asarray(oc).tolist(), np.asarray(ov).tolist()):
            out.append(self.pool.texts[v] if c == 1 else dt.date.fromordinal(dd + EPOCH).isoformat())
        return np.array(out, dtype=object)

    def keys(self, cols: dict, idx=None) -> list[str]:
        c = cols if idx is None else take(cols, idx)
        return [f"{a}|{b}" for a, b in zip(self.meter(c["m"]).tolist(),
                                           self.date(c["d"], c["oc"], c["ov"]).tolist())]

    def rows(self, cols: dict, idx) -> dict:
        c = take(cols, idx)
        kwh = []
        for k, oc, ov in zip(c["k"].tolist(), c["oc"].tolist(), c["ov"].tolist()):
            if oc == 2:
                kwh.append(self.pool.texts[ov])
            else:
                kwh.append(("-" if k < 0 else "") + f"{abs(k) // 1000}.{abs(k) % 1000:03d}")
        qual = [self.pool.texts[ov] if oc == 3 else ("actual", "estimated")[q]
                for q, oc, ov in zip(c["q"].tolist(), c["oc"].tolist(), c["ov"].tolist())]
        return {"meter_id": self.meter(c["m"]), "read_date": self.date(c["d"], c["oc"], c["ov"]),
                "kwh": np.array(kwh, dtype=object), "read_quality": np.array(qual, dtype=object)}


# ---------------------------------------------------------------------------
class DefectLog:
    """The planted defects of the reads, as arrays (manifest entries on demand)."""

    def __init__(self):
        self.parts: list[dict] = []

    def add(self, kind: str, column, rows, keys: dict, outcome: str, of: str | None = None) -> None:
        n = len(keys["m"])
        if n == 0:
            return
        self.parts.append({"kind": kind, "column": np.broadcast_to(np.asarray(column, dtype=object), n).copy(),
                           "rows": np.broadcast_to(np.asarray(rows), n).copy(),
                           **{c: np.asarray(keys[c]).copy() for c in ("m", "d", "oc", "ov")},
                           "outcome": outcome, "of": of})

    def __len__(self) -> int:
        return sum(len(p["m"]) for p in self.parts)

    @staticmethod
    def _keys(p, texts: "Texts") -> np.ndarray:
        meter = _fmt_ids_u(texts.prefix, p["m"], texts.width)
        day = p["d"].astype("datetime64[D]").astype("U10").astype(object)
        dates = np.where(p["oc"] == 1, np.array(texts.pool.texts, dtype=object)[p["ov"]], day)
        return (meter + "|" + dates).astype(object)

    def dicts(self, texts: "Texts") -> list[dict]:
        out: list[dict] = []
        for p in self.parts:
            keys = self._keys(p, texts).tolist()
            extra = {} if p["of"] is None else {"of": p["of"]}
            kind, outcome = p["kind"], p["outcome"]
            out += [{"file": NAME, "primary_key": k, "kind": kind, "column": c, "rows": r,
                     "outcome": outcome, **extra}
                    for k, c, r in zip(keys, p["column"].tolist(), p["rows"].tolist())]
        return out

    def lines(self, texts: "Texts", pad: str) -> list[str]:
        """The manifest lines (json.dumps of each entry), built in bulk."""
        out: list[str] = []
        for p in self.parts:
            keys = self._keys(p, texts)
            uniq = {c: json.dumps(c) for c in set(p["column"].tolist())}  # None -> null
            cols = np.array([uniq[c] for c in p["column"].tolist()], dtype=object)
            tail = f', "outcome": {json.dumps(p["outcome"])}'
            if p["of"] is not None:
                tail += f', "of": {json.dumps(p["of"])}'
            head = f'{pad}{{"file": "{NAME}", "primary_key": "'
            mid = f'", "kind": {json.dumps(p["kind"])}, "column": '
            rows = p["rows"].astype("U12").astype(object)
            out += (head + keys + mid + cols + ', "rows": ' + rows + (tail + "}")).tolist()
        return out


def _fmt_ids_u(prefix: str, numbers, width: int) -> np.ndarray:
    numbers = np.asarray(numbers, dtype=np.int64)
    digits = np.char.zfill(numbers.astype("U20"), width)
    return (prefix + digits.astype(object)).astype(object)


# ---------------------------------------------------------------------------
def inject(inj, cols: dict, quotas: dict[str, int], free_m: np.ndarray, free_d: np.ndarray,
           ids_m, pool: Pool, log: DefectLog, texts: Texts, dup_defect: bool) -> tuple[dict, list]:
    """:meth:`Injector.inject` for the numeric reads, with ``fresh_key`` as in
    the generator: the chunk's free meter-days in order, then fresh meters.
    Returns the columns with the defects inserted and the keys (texts) of the
    exact duplicates."""
    header = FILES[NAME]
    n = len(cols["m"])
    if not quotas or n == 0:
        return cols, []
    assert all(k not in quotas for k in (SCORE, COMPLETED))
    r = inj.rng
    book = inj.books[NAME]
    required = [c for c in header if c not in OPTIONAL[NAME] and c not in KEYS[NAME]]
    typed = list(TYPES[NAME])
    n_bad = {len(BAD_VALUES[TYPES[NAME][c]]) for c in typed}
    assert len(n_bad) == 1, "the replay assumes one number of bad values per column"
    bad_codes = np.array([[pool.code(v) for v in BAD_VALUES[TYPES[NAME][c]]] for c in typed])
    typed_oc = np.array([COLUMNS[c] for c in typed])
    date_i = typed.index("read_date")
    required_oc = np.array([COLUMNS[c] for c in required])
    domain_vals = OUT_OF_DOMAIN["read_quality"]
    dom_codes = np.array([pool.code(v) for v in domain_vals])
    empty = pool.code("")
    K, D = cols["k"], cols["d"]
    F = len(free_m)
    m_next0 = ids_m.next
    fk = [0]  # fresh keys handed out
    bad_date_keys: set[tuple[int, int]] = set()  # used keys (meter, unparseable read_date)

    def fresh(tpl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        j = fk[0] + np.arange(len(tpl))
        fk[0] += len(tpl)
        inside = j < F
        jm = np.minimum(j, max(F - 1, 0))
        m = np.where(inside, free_m[jm] if F else 0, m_next0 + (j - F))
        d = np.where(inside, free_d[jm] if F else 0, D[tpl])
        return m, d

    S = Draws(r)
    new_parts: list[dict] = []  # Injector.inject's new_rows, in order
    plain_parts: list[dict] = []  # its plain_defects

    def rows_from(tpl, m, d):
        out = take(cols, tpl)
        out["m"], out["d"] = np.asarray(m, np.int64), np.asarray(d, np.int64)
        out["origin"] = np.full(len(tpl), -1, np.int64)
        return out

    def plain(kind, colnames, part):
        log.add(kind, colnames, 1, part, "rejected")
        new_parts.append(part)
        plain_parts.append(part)

    def run(q, pattern, accept, single=None):
        """Replay q defects drawing ``pattern`` each: ``accept(V)`` plants the
        leading defects whose bulk draws hold and returns their number;
        ``single()`` replays the next one exactly (the retry cases)."""
        done = 0
        P = len(pattern)
        while done < q:
            left = q - done
            start = S.pos
            V, after = S.seq(np.tile(np.asarray(pattern, dtype=np.int64), left))
            V, after = V.reshape(left, P), after.reshape(left, P)[:, -1]
            f = accept(V)
            S.pos = int(after[f - 1]) if f > 0 else start
            done += f
            if f < left:
                single()
                done += 1

    def missing(V):
        tpl, ci = V[:, 0], V[:, 1]
        part = rows_from(tpl, *fresh(tpl))
        part["oc"], part["ov"] = required_oc[ci], np.full(len(tpl), empty)
        plain(MISSING, np.array(required, dtype=object)[ci], part)
        return len(tpl)

    def unparseable_rows(ci, tpl, m, d, b):
        part = rows_from(tpl, m, d)
        part["oc"], part["ov"] = typed_oc[ci], bad_codes[ci, b]
        plain(UNPARSEABLE, np.array(typed, dtype=object)[ci], part)

    def unparseable(V):
        ci, tpl, b = V[:, 0], V[:, 1], V[:, 2]
        m, d = fresh(tpl)
        f = len(tpl)
        seen: dict = {}
        for i in np.flatnonzero(ci == date_i).tolist():  # a key used twice: replayed singly
            key = (int(m[i]), int(b[i]))
            if key in bad_date_keys or key in seen:
                f = i
                break
            seen[key] = i
        fk[0] -= len(tpl) - f
        bad_date_keys.update(seen)
        unparseable_rows(ci[:f], tpl[:f], m[:f], d[:f], b[:f])
        return f

    def unparseable_single():
        ci = S.one(len(typed))
        for _ in range(50):
            tpl = np.array([S.one(n)])
            m, d = fresh(tpl)
            b = S.one(next(iter(n_bad)))
            key = (int(m[0]), b)
            if ci != date_i or key not in bad_date_keys:
                break
        if ci == date_i:
            bad_date_keys.add(key)
        unparseable_rows(np.array([ci]), tpl, m, d, np.array([b]))

    def domain(V):
        tpl, v = V[:, 0], V[:, 1]
        part = rows_from(tpl, *fresh(tpl))
        part["oc"], part["ov"] = np.full(len(tpl), COLUMNS["read_quality"]), dom_codes[v]
        plain(DOMAIN, "read_quality", part)
        return len(tpl)

    def negative(V):
        tpl = V[:, 0]
        zero = K[tpl] == 0  # a template of 0.000 kWh is drawn again
        f = int(np.argmax(zero)) if zero.any() else len(tpl)
        tpl = tpl[:f]
        part = rows_from(tpl, *fresh(tpl))
        part["k"] = -K[tpl]
        plain(NEGATIVE, "kwh", part)
        return f

    def negative_single():
        tpl = None
        for _ in range(60):
            i = S.one(n)
            if K[i] != 0:
                tpl = i
                break
        if tpl is None:
            tpl = S.one(n)
        tpl = np.array([tpl])
        part = rows_from(tpl, *fresh(tpl))
        if K[tpl[0]] != 0:
            part["k"] = -K[tpl]
        else:
            part["oc"], part["ov"] = np.array([COLUMNS["kwh"]]), np.array([pool.code("-1")])
        plain(NEGATIVE, "kwh", part)

    def pair(tpl, m, d, k2, oc2=None, ov2=None):
        row = rows_from(tpl, m, d)
        row2 = dict(row, k=k2)
        if oc2 is not None:
            row2.update(oc=oc2, ov=ov2)
        log.add(CONFLICT, "kwh", 2, row, "rejected")
        new_parts.append({c: np.stack([row[c], row2[c]], axis=1).ravel() for c in row})

    def conflict(V):
        tpl, vi = V[:, 0], V[:, 1]
        same = K[vi] == K[tpl]  # the same value is drawn again
        f = int(np.argmax(same)) if same.any() else len(tpl)
        tpl, vi = tpl[:f], vi[:f]
        pair(tpl, *fresh(tpl), K[vi])
        return f

    def conflict_single():
        tpl = np.array([S.one(n)])
        m, d = fresh(tpl)
        for _ in range(30):
            vi = S.one(n)
            if K[vi] != K[tpl[0]]:
                pair(tpl, m, d, K[[vi]])
                return
        v = f"{K[tpl[0]] / 1000:.3f}"
        other = pool.code(f"{float(v) + 1:.2f}")
        pair(tpl, m, d, K[tpl], np.array([COLUMNS["kwh"]]), np.array([other]))

    steps = {
        MISSING: ((n, len(required)), missing, None),
        UNPARSEABLE: ((len(typed), n, next(iter(n_bad))), unparseable, unparseable_single),
        DOMAIN: ((n, len(domain_vals)), domain, None),  # one domain column: no draw for it
        NEGATIVE: ((n,), negative, negative_single),  # one non-negative column
        CONFLICT: ((n, n), conflict, conflict_single),  # one conflict column
    }
    for kind, q in quotas.items():
        if kind == EXACT:
            continue
        pattern, accept, single = steps[kind]
        run(q, pattern, accept, single)
        book.by_kind[kind] = book.by_kind.get(kind, 0) + (2 * q if kind == CONFLICT else q)
    S.close()
    ids_m.next = m_next0 + max(0, fk[0] - F)
    new_rows = concat(new_parts) if new_parts else new_cols()
    book.defect_rows += len(new_rows["m"])
    # exact duplicates of clean rows (and one of a rejected row)
    q = quotas.get(EXACT, 0)
    copies = [new_cols()]
    exact_keys: list[str] = []
    if q:
        picks = np.sort(r.choice(n, size=min(q, n), replace=False))
        k = np.where(r.random(picks.size) < 0.8, 1, 2)
        rows = take(cols, np.repeat(picks, k))
        rows["origin"] = np.full(len(rows["m"]), -1, np.int64)
        copies.append(rows)
        src = take(cols, picks)
        log.add(EXACT, None, k, src, "duplicate", "clean")
        exact_keys += texts.keys(src)
        book.by_kind[EXACT] = book.by_kind.get(EXACT, 0) + int(k.sum())
    if dup_defect and plain_parts:
        everything = concat(plain_parts)
        row = take(everything, [int(r.integers(0, len(everything["m"])))])
        copies.append(row)
        log.add(EXACT, None, 1, row, "duplicate", "rejected")
        exact_keys += texts.keys(row)
        book.by_kind[EXACT] = book.by_kind.get(EXACT, 0) + 1
    copies = concat(copies)
    book.copies += len(copies["m"])
    return insert(cols, concat([new_rows, copies]), r), exact_keys


# ---------------------------------------------------------------------------
class Sink:
    """Where the reads go: one table (files layout) or one binary file per
    delivery day (deliveries layout), formatted by DuckDB in :meth:`finish`."""

    def __init__(self, work_dir: str, out_dir: str, file_format: str, layout: str,
                 start_o: int, end_o: int, width: int, pool: Pool, prefix: str = "M"):
        self.work, self.out = work_dir, out_dir
        self.format, self.layout = file_format, layout
        self.start_e, self.end_e = start_o - EPOCH, end_o - EPOCH
        self.width, self.pool, self.prefix = width, pool, prefix
        self.rows = 0
        self.con = None
        self.days: dict[int, int] = {}
        self.handles: dict[int, object] = {}
        self.dir = os.path.join(work_dir, "reads_by_day")
        if layout == "files":
            import duckdb
            self.con = duckdb.connect(os.path.join(work_dir, "reads.duckdb"))
            self._setup(self.con)
            self.con.execute("CREATE TABLE reads (m INTEGER, d INTEGER, k INTEGER, q UTINYINT, "
                             "oc UTINYINT, ov USMALLINT)")
        else:
            os.makedirs(self.dir, exist_ok=True)

    def _setup(self, con) -> None:
        con.execute(f"SET temp_directory = {sql_literal(os.path.join(self.work, 'spill'))}")
        con.execute("SET preserve_insertion_order = true")

    def _note_overrides(self, oc: np.ndarray, ov: np.ndarray) -> None:
        sel = oc > 0
        if sel.any():
            for code in np.unique(oc[sel] * 65536 + ov[sel]).tolist():
                self.pool.used.add(divmod(code, 65536))

    def nat_day(self, d: np.ndarray, oc: np.ndarray, ov: np.ndarray) -> np.ndarray:
        """The delivery day of rows (epoch days): read_date clamped to [start,
        end]; an unparseable one goes to the start day."""
        pool_day = np.array([_parse_day(t, self.start_e) for t in self.pool.texts], dtype=np.int64)
        day = np.where(oc == 1, pool_day[ov], d)
        return np.clip(day, self.start_e, self.end_e)

    def chunk(self, cols: dict, late_pos=None, late_day=None, earlier: dict | None = None) -> None:
        """The rows of a chunk in file order; the rows at ``late_pos`` are
        delivered on ``late_day`` and their earlier versions (``earlier``)
        on their own day, in their place."""
        n = len(cols["m"])
        self.rows += n
        self._note_overrides(cols["oc"], cols["ov"])
        rec = np.empty(n, dtype=RECORD)
        for c in RECORD.names:
            rec[c] = cols[c]
        if self.con is not None:
            import pandas as pd
            self.con.register("frame", pd.DataFrame({c: rec[c] for c in RECORD.names}))
            self.con.execute("INSERT INTO reads SELECT * FROM frame")
            self.con.unregister("frame")
            return
        day = self.nat_day(cols["d"], cols["oc"], cols["ov"])
        line = np.arange(n)
        if late_pos is not None and len(late_pos):
            e = np.empty(len(late_pos), dtype=RECORD)
            for c in RECORD.names:
                e[c] = earlier[c]
            self.rows += len(e)
            e_day = day[late_pos]
            day = day.copy()
            day[late_pos] = np.asarray(late_day) - EPOCH
            rec = np.concatenate([rec, e])
            day = np.concatenate([day, e_day])
            line = np.concatenate([line, late_pos])
        order = np.lexsort((line, day))
        rec, day = rec[order], day[order]
        cut = np.flatnonzero(day[1:] != day[:-1]) + 1
        for a, b in zip(np.r_[0, cut].tolist(), np.r_[cut, len(day)].tolist()):
            if a == b:
                continue
            dd = int(day[a])
            fh = self.handles.get(dd)
            if fh is None:
                fh = self.handles[dd] = open(os.path.join(self.dir, f"{dd}.bin"), "wb")
            fh.write(rec[a:b].tobytes())
            self.days[dd] = self.days.get(dd, 0) + (b - a)

    # ------------------------------------------------------------------
    def _select(self, con, day: int | None = None) -> str:
        """The output columns from a relation of RECORD rows (``day``: the
        read day of most of them, written as a constant)."""
        from .layout import _parsed, _lit
        pool = self.pool.sql_list()
        text = f"CASE WHEN oc > 0 THEN ({pool})[ov + 1] END"
        iso = None if day is None else dt.date.fromordinal(day + EPOCH).isoformat()
        typed = {"read_date": False, "kwh": False}
        if self.format == "parquet":
            for col, cis_type in (("read_date", "date"), ("kwh", "decimal")):
                texts = sorted({self.pool.texts[v] for oc, v in self.pool.used if oc == COLUMNS[col]} - {""})
                ok = True
                for t in texts:
                    ok &= con.execute(f"SELECT ({_parsed('v', cis_type)}) IS NOT NULL "
                                      f"FROM (SELECT {_lit(t)} AS v)").fetchone()[0]
                typed[col] = bool(ok)
        meter = f"'{self.prefix}' || lpad(CAST(m AS VARCHAR), {self.width}, '0') AS meter_id"
        if typed["read_date"]:
            same = "" if iso is None else f"WHEN d = {day} THEN DATE '{iso}' "
            date = (f"CASE WHEN oc = 1 THEN CAST(({_parsed('t', 'date')}) AS DATE) {same}"
                    "ELSE DATE '1970-01-01' + d END AS read_date")
        else:
            same = "" if iso is None else f"WHEN d = {day} THEN '{iso}' "
            date = (f"CASE WHEN oc = 1 THEN t {same}"
                    "ELSE CAST(DATE '1970-01-01' + d AS VARCHAR) END AS read_date")
        if typed["kwh"]:
            kwh = f"CASE WHEN oc = 2 THEN ({_parsed('t', 'decimal')}) ELSE CAST(k AS DOUBLE) / 1000 END AS kwh"
        else:
            kwh = ("CASE WHEN oc = 2 THEN t ELSE (CASE WHEN k < 0 THEN '-' ELSE '' END) || "
                   "CAST(abs(k) // 1000 AS VARCHAR) || '.' || lpad(CAST(abs(k) % 1000 AS VARCHAR), 3, '0') "
                   "END AS kwh")
        quality = ("CASE WHEN oc = 3 THEN t WHEN q = 0 THEN 'actual' ELSE 'estimated' END AS read_quality")
        return f"{meter}, {date}, {kwh}, {quality}", text

    def _copy(self, con, relation: str, path: str) -> int:
        select, text = self._select(con)
        opts = "FORMAT parquet" if self.format == "parquet" else "FORMAT csv, HEADER true"
        sql = (f"COPY (SELECT {select} FROM (SELECT *, {text} AS t FROM {relation})) "
               f"TO {sql_literal(path)} ({opts})")
        return int(con.execute(sql).fetchone()[0])

    def finish(self) -> tuple[int, list[dict] | None]:
        from .layout import clear_forms, delivery_name
        clear_forms(self.out, NAME)
        if self.con is not None:
            path = os.path.join(self.out, f"{NAME}.{self.format}")
            written = self._copy(self.con, "reads", path)
            self.con.close()
            assert written == self.rows, (written, self.rows)
            return written, None
        import duckdb
        import pandas as pd
        for fh in self.handles.values():
            fh.close()
        folder = os.path.join(self.out, NAME)
        os.makedirs(folder, exist_ok=True)
        con = duckdb.connect()
        self._setup(con)
        out = []
        opts = "FORMAT parquet" if self.format == "parquet" else "FORMAT csv, HEADER true"
        days = sorted(self.days) or [self.start_e]
        for dd in days:
            path = os.path.join(self.dir, f"{dd}.bin")
            rec = np.fromfile(path, dtype=RECORD) if dd in self.days else np.empty(0, dtype=RECORD)
            con.register("frame", pd.DataFrame({c: rec[c] for c in RECORD.names}))
            select, text = self._select(con, dd)
            name = delivery_name(dd + EPOCH, self.format)
            n = int(con.execute(f"COPY (SELECT {select} FROM (SELECT *, {text} AS t FROM frame)) "
                                f"TO {sql_literal(os.path.join(folder, name))} ({opts})").fetchone()[0])
            assert n == len(rec), (dd, n, len(rec))
            out.append({"delivery": name, "rows": n})
            if dd in self.days:
                os.remove(path)
        con.close()
        return sum(d["rows"] for d in out), out


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _parse_day(text: str, start_e: int) -> int:
    """Epoch day of a date text under the contract format; start_e if it does not parse."""
    if not _DATE.fullmatch(text):
        return start_e
    try:
        return dt.date.fromisoformat(text).toordinal() - EPOCH
    except ValueError:
        return start_e
