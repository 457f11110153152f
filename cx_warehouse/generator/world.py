"""Customers, premises, accounts, meters, AMI usage, billing runs, bills and
billing exceptions of the synthetic utility.

Everything is held as numpy arrays indexed by a dense integer id (the text id
is the index + 1 with a prefix).  Day values are date ordinals
(``date.toordinal()``), times are seconds (``ordinal * 86400 + second``).
"""
from __future__ import annotations

import math
import unicodedata
from types import SimpleNamespace

import numpy as np

from .common import DAY, pick, pick_rows, stream, weekday

NONE_DAY = 10 ** 8  # "no date" (open account, meter still installed)

CLASS_NAMES = ("residential", "commercial", "industrial")
AREAS = ("NORTH", "SOUTH", "EAST", "WEST", "CENTRAL")
RATE_CODES = ("RES-STD", "RES-TOU", "RES-LI", "COM-GS", "COM-TOU", "IND-LP", "IND-TOU")
RATE_CLASS = np.array([0, 0, 0, 1, 1, 2, 2])
# per-day fixed charge, energy charge per kWh (before a 4.5% tax)
RATE_FIXED = np.array([0.40, 0.40, 0.25, 1.10, 1.10, 9.00, 9.00])
RATE_ENERGY = np.array([0.142, 0.128, 0.098, 0.121, 0.109, 0.083, 0.077])
TAX = 1.045
CYCLES = ("01", "02", "03", "04")
CYCLE_DAY = (3, 10, 17, 24)

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty",
    "Anthony", "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul",
    "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda",
    "Brian", "Dorothy", "George", "Melissa", "Timothy", "Deborah", "José", "María", "Zoë",
    "Chloé", "Søren", "Aisha", "Wei", "Priya", "Mohammed", "Olga", "Anne-Marie", "Jean-Luc",
    "Siobhán", "Björn", "Nguyễn Thị", "Kwame", "Hiroshi", "Fatima", "Mateo", "Lucía",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker",
    "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "O'Brien", "O'Neil",
    "McDonald", "Van der Berg", "García-López", "Müller", "Łukasiewicz", "D'Angelo",
    "Smith-Jones", "Østergaard", "Núñez", "Kowalski", "Okafor", "Tanaka", "Singh", "Patel",
    "Dubois", "Schäfer", "Ivanova", "Haddad",
)
BUSINESS_WORDS = (
    "Harbor", "Summit", "Riverside", "Maple", "Granite", "Lakeside", "Pioneer", "Cedar",
    "Northgate", "Sunrise", "Liberty", "Evergreen", "Iron Works", "Blue Ridge", "Prairie",
    "Oakwood", "Redstone", "Silverline", "Westfield", "Union",
)
BUSINESS_KINDS = (
    "Hardware", "Dental", "Logistics", "Bakery", "Auto Repair", "Foods", "Plastics",
    "Laundromat", "Medical Center", "Steel", "Printing", "Cold Storage", "Brewing", "Motel",
    "Pharmacy", "Fitness", "Packaging", "Veterinary Clinic", "Grocers", "Data Center",
)
BUSINESS_SUFFIX = ("LLC", "Inc.", "Co.", ", Inc.", ", LLC", "& Sons", "Ltd", "")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
AREA_CODES = np.array([555, 212, 305, 312, 404, 503, 602, 713, 808, 919])
UNKNOWN_AREA_CODES = np.array([480, 617, 720])  # never given to a customer


def _ascii(s: str) -> str:
    s = unicodedata.normalize("NFKD", s.replace("ł", "l").replace("Ł", "L")
                              .replace("ø", "o").replace("Ø", "O"))
    return "".join(ch for ch in s if ch.isascii() and (ch.isalnum()))


# ---------------------------------------------------------------------------
def build_world(seed: int, n_premises: int, start_o: int, end_o: int) -> SimpleNamespace:
    w = SimpleNamespace(seed=seed, start_o=start_o, end_o=end_o, D=end_o - start_o + 1)
    _premises(w, n_premises)
    _accounts(w)
    _customers(w)
    _meters(w)
    _billing_runs(w)
    _bill_schedule(w)
    return w


def _premises(w, P):
    r = stream(w.seed, "premises")
    cls = pick(r, None, [0.88, 0.10, 0.02], P)
    if P >= 3:  # every class present even on tiny sets
        for k in (1, 2):
            if not np.any(cls == k):
                cls[P - k] = k
    w.P = P
    w.p_class = cls
    w.p_area = pick(r, None, [0.22, 0.22, 0.20, 0.20, 0.16], P)
    w.p_cycle = r.integers(0, 4, P)
    med = np.array([26.0, 210.0, 2600.0])
    sig = np.array([0.40, 0.80, 0.70])
    w.p_base = med[cls] * np.exp(sig[cls] * r.standard_normal(P))
    u = r.random(P)
    # 0 = occupied at start, 1 = vacant at start, 2 = new construction (meter later)
    state = np.where(u < 0.965, 0, np.where(u < 0.99, 1, 2))
    state[(state == 2) & (cls == 2)] = 1
    if P >= 20 and not np.any(state == 1):
        state[P // 2] = 1
    w.p_state = state
    inst = w.start_o - r.integers(60, 3000, P)
    newb = state == 2
    inst[newb] = w.start_o + (r.random(newb.sum()) * 0.6 * w.D).astype(np.int64)
    w.p_meter_inst = inst


def _accounts(w):
    r = stream(w.seed, "accounts")
    start_o, end_o = w.start_o, w.end_o
    hazard = np.array([0.12, 0.08, 0.04]) / 365.25
    occ = np.flatnonzero(w.p_state == 0)
    tenure = np.minimum(r.exponential(7 * 365.25, occ.size), 30 * 365.25).astype(np.int64) + 1
    cur_prem, cur_open = occ, start_o - tenure
    cur_initial = np.ones(occ.size, bool)
    vac = np.flatnonzero(w.p_state == 1)
    vac_open = start_o + 1 + np.minimum(r.lognormal(math.log(45), 0.9, vac.size), 400).astype(np.int64)
    nb = np.flatnonzero(w.p_state == 2)
    nb_open = w.p_meter_inst[nb] + r.integers(3, 30, nb.size)
    pend_prem = np.concatenate([vac, nb])
    pend_open = np.concatenate([vac_open, nb_open])
    keep = pend_open <= end_o
    pend_prem, pend_open = pend_prem[keep], pend_open[keep]
    cur_prem = np.concatenate([cur_prem, pend_prem])
    cur_open = np.concatenate([cur_open, pend_open])
    cur_initial = np.concatenate([cur_initial, np.zeros(pend_prem.size, bool)])
    prem_l, open_l, close_l, init_l = [], [], [], []
    while cur_prem.size:
        cls = w.p_class[cur_prem]
        eff = np.maximum(cur_open, start_o)
        dur = np.ceil(r.exponential(1.0 / hazard[cls])).astype(np.int64)
        dur = np.where(cur_initial, np.maximum(dur, 1), np.maximum(dur, 45))
        close = eff + dur
        closed = close <= end_o
        prem_l.append(cur_prem)
        open_l.append(cur_open)
        close_l.append(np.where(closed, close, NONE_DAY))
        init_l.append(cur_initial)
        gap = np.where(r.random(cur_prem.size) < 0.45, 0,
                       np.minimum(np.ceil(r.lognormal(math.log(25), 0.9, cur_prem.size)), 400)
                       ).astype(np.int64)
        nxt = close + gap
        m = closed & (nxt <= end_o)
        cur_prem, cur_open = cur_prem[m], nxt[m]
        cur_initial = np.zeros(cur_prem.size, bool)
    prem = np.concatenate(prem_l)
    opened = np.concatenate(open_l)
    closed = np.concatenate(close_l)
    initial = np.concatenate(init_l)
    order = np.lexsort((prem, opened))  # account ids follow the opening date
    w.A = prem.size
    w.a_prem = prem[order]
    w.a_open = opened[order]
    w.a_close = closed[order]
    w.a_initial = initial[order]
    w.a_class = w.p_class[w.a_prem]
    rate_p = np.zeros((w.A, 7))
    rate_p[w.a_class == 0, 0:3] = [0.68, 0.20, 0.12]
    rate_p[w.a_class == 1, 3:5] = [0.72, 0.28]
    rate_p[w.a_class == 2, 5:7] = [0.65, 0.35]
    w.a_rate = pick_rows(r, rate_p)
    w.a_occ_factor = np.exp(0.25 * r.standard_normal(w.A))


def _customers(w):
    r = stream(w.seed, "customers")
    A = w.A
    idx = np.arange(A)
    ptr = np.full(A, -1, dtype=np.int64)
    res = w.a_class == 0
    # second homes / landlords: an initial residential account shares a customer
    cand = np.flatnonzero(res & w.a_initial)
    if cand.size > 10:
        sel = cand[1:][r.random(cand.size - 1) < 0.03]
        pos = np.searchsorted(cand, sel)
        ptr[sel] = cand[(r.random(sel.size) * pos).astype(np.int64)]
    # businesses with several sites
    bus = np.flatnonzero(~res)
    if bus.size > 1:
        sel = bus[1:][r.random(bus.size - 1) < 0.28]
        pos = np.searchsorted(bus, sel)
        ptr[sel] = bus[(r.random(sel.size) * pos).astype(np.int64)]
    # movers: a residential customer closes one account and opens another nearby
    mover = np.zeros(A, bool)
    cl = np.flatnonzero(res & (w.a_close < NONE_DAY))
    cl = cl[np.argsort(w.a_close[cl], kind="stable")]
    mv = np.flatnonzero(res & ~w.a_initial)
    mv = mv[r.random(mv.size) < 0.22]
    if cl.size and mv.size:
        cdates = w.a_close[cl]
        lo = np.searchsorted(cdates, w.a_open[mv] - 25, "left")
        hi = np.searchsorted(cdates, w.a_open[mv], "right")
        ok = hi > lo
        mv, lo, hi = mv[ok], lo[ok], hi[ok]
        src = cl[lo + (r.random(mv.size) * (hi - lo)).astype(np.int64)]
        ok = (w.a_prem[src] != w.a_prem[mv]) & (src < mv)
        mv, src = mv[ok], src[ok]
        _, first = np.unique(src, return_index=True)
        mv, src = mv[first], src[first]
        ptr[mv] = src
        mover[mv] = True
    w.a_mover = mover
    root = np.where(ptr < 0, idx, ptr)
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    is_root = root == idx
    new_id = np.cumsum(is_root) - 1
    w.a_cust = new_id[root]
    roots = np.flatnonzero(is_root)
    C = roots.size
    w.C = C
    w.c_person = w.a_class[roots] == 0
    w.c_first_open = w.a_open[roots]
    # --- birth dates
    start_o = w.start_o
    init_root = w.a_initial[roots]
    age = np.where(init_root, np.clip(r.normal(53, 16, C), 20, 95),
                   np.clip(r.normal(37, 13, C), 19, 90))
    birth = start_o - (age * 365.25).astype(np.int64) - r.integers(0, 365, C)
    limit = w.c_first_open - int(18 * 365.25) - 1
    bad = birth > limit
    birth[bad] = limit[bad] - (r.random(bad.sum()) * 22 * 365.25).astype(np.int64)
    birth_known = w.c_person & (r.random(C) >= 0.07)
    persons = np.flatnonzero(birth_known)
    if persons.size:
        n29 = max(2, persons.size // 900)
        for ci in r.choice(persons, size=min(n29, persons.size), replace=False):
            import datetime as _dt
            y = _dt.date.fromordinal(int(birth[ci])).year
            y -= y % 4
            if y % 100 == 0:
                y -= 4
            b29 = _dt.date(y, 2, 29).toordinal()
            if b29 <= limit[ci]:
                birth[ci] = b29
    w.c_birth = np.where(birth_known, birth, -1)
    # --- phones: unique 10 digit numbers, households share one
    space = AREA_CODES.size * 8_000_000
    draw = r.choice(space, size=C, replace=False)
    phone = AREA_CODES[draw // 8_000_000] * 10_000_000 + 2_000_000 + draw % 8_000_000
    has_phone = r.random(C) >= 0.04
    hh = np.flatnonzero(w.c_person & init_root & has_phone)
    w.c_shared_pairs = np.empty((0, 2), dtype=np.int64)
    if hh.size >= 4:
        k = max(1, int(hh.size * 0.025))
        pairs = r.choice(hh, size=2 * k, replace=False).reshape(k, 2)
        phone[pairs[:, 1]] = phone[pairs[:, 0]]
        w.c_shared_pairs = pairs
    w.c_phone = np.where(has_phone, phone, -1)
    w.c_phone_fmt = pick(r, None, [0.35, 0.15, 0.15, 0.20, 0.15], C)
    # --- names and e-mail
    fn = r.integers(0, len(FIRST_NAMES), C)
    ln = r.integers(0, len(LAST_NAMES), C)
    w1 = r.integers(0, len(BUSINESS_WORDS), C)
    w2 = r.integers(0, len(BUSINESS_KINDS), C)
    w3 = r.integers(0, len(BUSINESS_SUFFIX), C)
    has_email = np.where(w.c_person, r.random(C) < 0.88, r.random(C) < 0.95)
    dom = r.integers(0, len(EMAIL_DOMAINS), C)
    num = r.integers(1, 100, C)
    numbered = r.random(C) < 0.5
    fa = [_ascii(x).lower() for x in FIRST_NAMES]
    la = [_ascii(x).lower() for x in LAST_NAMES]
    names, emails = [], []
    person = w.c_person.tolist()
    for i, (p, f, l_, b1, b2, b3, he, d, nu, nb) in enumerate(zip(
            person, fn.tolist(), ln.tolist(), w1.tolist(), w2.tolist(), w3.tolist(),
            has_email.tolist(), dom.tolist(), num.tolist(), numbered.tolist())):
        if p:
            names.append(f"{FIRST_NAMES[f]} {LAST_NAMES[l_]}")
            if he:
                emails.append(f"{fa[f]}.{la[l_]}{nu if nb else ''}@{EMAIL_DOMAINS[d]}")
            else:
                emails.append("")
        else:
            suf = BUSINESS_SUFFIX[b3]
            base = f"{BUSINESS_WORDS[b1]} {BUSINESS_KINDS[b2]}"
            names.append(base + (suf if suf.startswith(",") else (" " + suf if suf else "")))
            if he:
                slug = _ascii(base).lower()
                emails.append(f"{('billing', 'accounts', 'ap')[nu % 3]}@{slug}{nu}.{EMAIL_DOMAINS[d]}")
            else:
                emails.append("")
    w.c_name = np.array(names, dtype=object)
    w.c_email = np.array(emails, dtype=object)
    w.c_has_email = has_email
    # about one customer in seventeen asked not to be surveyed (survey_opt_out):
    # chosen by position, not drawn, so a seed yields the same data otherwise
    w.c_opt_out = np.arange(C) % 17 == 3


def age_band_at(w, cust, day) -> np.ndarray:
    """0 '<35', 1 '35-49', 2 '50-64', 3 '65+', 4 unknown, 5 business."""
    birth = w.c_birth[cust]
    age = (np.asarray(day) - birth) / 365.25
    band = np.select([age < 35, age < 50, age < 65], [0, 1, 2], 3)
    band = np.where(birth < 0, 4, band)
    return np.where(w.c_person[cust], band, 5)


def _meters(w):
    r = stream(w.seed, "meters")
    P = w.P
    first = np.maximum(w.p_meter_inst, w.start_o) + 1
    span = np.maximum(w.end_o - first + 1, 0)
    n_ex = np.minimum(r.poisson(0.045 * w.D / 365.25, P), 2) * (span > 0)
    ex_prem = np.repeat(np.arange(P), n_ex)
    ex_day = first[ex_prem] + (r.random(ex_prem.size) * span[ex_prem]).astype(np.int64)
    key = np.unique(ex_prem.astype(np.int64) * (1 << 32) + ex_day)
    ex_prem, ex_day = key >> 32, key & 0xFFFFFFFF
    order = np.lexsort((ex_prem, ex_day))
    ex_prem, ex_day = ex_prem[order], ex_day[order]
    w.M = P + ex_prem.size
    w.m_prem = np.concatenate([np.arange(P), ex_prem])
    w.m_inst = np.concatenate([w.p_meter_inst, ex_day])
    # removal = the next install on the same premise
    o = np.lexsort((w.m_inst, w.m_prem))
    rem = np.full(w.M, NONE_DAY, dtype=np.int64)
    same = w.m_prem[o][1:] == w.m_prem[o][:-1]
    rem[o[:-1][same]] = w.m_inst[o][1:][same]
    w.m_rem = rem
    w.ex_prem, w.ex_day, w.ex_meter = ex_prem, ex_day, np.arange(P, w.M)


def _holidays(years):
    import datetime as _dt
    out = set()
    for y in years:
        for m, d in ((1, 1), (7, 4), (12, 25), (12, 26)):
            out.add(_dt.date(y, m, d).toordinal())
    return out


def _billing_runs(w):
    import datetime as _dt
    s = _dt.date.fromordinal(w.start_o)
    e = _dt.date.fromordinal(w.end_o)
    hol = _holidays(range(s.year, e.year + 2))
    dates, cycles = [], []
    y, m = s.year, s.month
    while (y, m) <= (e.year, e.month):
        for c, day in enumerate(CYCLE_DAY):
            o = _dt.date(y, m, day).toordinal()
            while (o - 1) % 7 >= 5 or o in hol:
                o += 1
            if w.start_o <= o <= w.end_o:
                dates.append(o)
                cycles.append(c)
        m += 1
        if m == 13:
            y, m = y + 1, 1
    order = np.lexsort((np.array(cycles), np.array(dates)))
    w.R = len(dates)
    w.r_date = np.array(dates, dtype=np.int64)[order]
    w.r_cycle = np.array(cycles, dtype=np.int64)[order]


def _bill_schedule(w):
    """One bill per account and run of its cycle while active (before blocking)."""
    acc_l, run_l, s_l, e_l = [], [], [], []
    lo_all = np.maximum(w.a_open, w.start_o)
    hi_all = np.minimum(w.a_close - 1, w.end_o)
    a_cycle = w.p_cycle[w.a_prem]
    for c in range(4):
        runs = np.flatnonzero(w.r_cycle == c)
        if runs.size == 0:
            continue
        R = w.r_date[runs]
        B = np.concatenate([[w.start_o], R[:-1]])
        accs = np.flatnonzero((a_cycle == c) & (lo_all <= hi_all))
        lo, hi = lo_all[accs], hi_all[accs]
        j1 = np.searchsorted(R - 1, lo, "left")
        j2 = np.searchsorted(B, hi, "right") - 1
        cnt = np.maximum(j2 - j1 + 1, 0)
        a = np.repeat(accs, cnt)
        off = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        j = np.repeat(j1, cnt) + off
        acc_l.append(a)
        run_l.append(runs[j])
        s_l.append(np.maximum(B[j], lo_all[a]))
        e_l.append(np.minimum(R[j] - 1, hi_all[a]))
    acc = np.concatenate(acc_l) if acc_l else np.zeros(0, np.int64)
    run = np.concatenate(run_l) if run_l else np.zeros(0, np.int64)
    s = np.concatenate(s_l) if s_l else np.zeros(0, np.int64)
    e = np.concatenate(e_l) if e_l else np.zeros(0, np.int64)
    keep = s <= e
    order = np.lexsort((run[keep], acc[keep]))  # by account, then run
    w.s_acc = acc[keep][order]
    w.s_run = run[keep][order]
    w.s_start = s[keep][order]
    w.s_end = e[keep][order]


# ---------------------------------------------------------------------------
# AMI usage (chunked over premises) -> reads and per-period sums for bills
# ---------------------------------------------------------------------------
def _season_table(w):
    days = np.arange(w.start_o, w.end_o + 1)
    import datetime as _dt
    doy = np.array([_dt.date.fromordinal(int(d)).timetuple().tm_yday for d in days], dtype=np.float64)

    def bump(center, width):
        return (np.exp(-((doy - center) / width) ** 2) + np.exp(-((doy - center - 365) / width) ** 2)
                + np.exp(-((doy - center + 365) / width) ** 2))

    summer, winter = bump(205, 38), bump(18, 34)
    wd = weekday(days)
    weekend = wd >= 5
    years = range(_dt.date.fromordinal(w.start_o).year, _dt.date.fromordinal(w.end_o).year + 1)
    hol = np.isin(days, np.array(sorted(_holidays(years))))
    off = weekend | hol
    res = (1 + 0.55 * summer + 0.40 * winter) * np.where(off, 1.08, 1.0)
    com = (1 + 0.35 * summer + 0.12 * winter) * np.where(off, 0.55, 1.0)
    ind = (1 + 0.08 * summer + 0.03 * winter) * np.where(off, 0.80, 1.0)
    return np.stack([res, com, ind]).astype(np.float32)


def usage_pass(w, ami_first_o: int, emit_reads) -> None:
    """Simulate daily consumption per premise, emit AMI reads for the AMI window
    and store per scheduled bill period the sum of consumption and of reads.

    ``emit_reads(chunk_no, meter_idx, day_ord, kwh, estimated, gap_meter, gap_day)``
    is called once per chunk (gap_* are installed meter-days without a read).
    """
    D = w.D
    season = _season_table(w)
    vac = np.array([0.06, 0.06, 0.15], dtype=np.float32)
    chunk = max(500, 3_000_000 // D)
    # accounts and scheduled periods grouped by premise
    acc_order = np.argsort(w.a_prem, kind="stable")
    acc_prem_sorted = w.a_prem[acc_order]
    s_prem = w.a_prem[w.s_acc]
    s_order = np.argsort(s_prem, kind="stable")
    s_prem_sorted = s_prem[s_order]
    w.s_sum = np.zeros(w.s_acc.size)
    w.s_gap_end = np.zeros(w.s_acc.size, bool)
    ex_order = np.argsort(w.ex_prem, kind="stable")
    ex_prem_sorted = w.ex_prem[ex_order]
    ami_col0 = ami_first_o - w.start_o
    cols = np.arange(D)
    for k, c0 in enumerate(range(0, w.P, chunk)):
        c1 = min(w.P, c0 + chunk)
        n = c1 - c0
        r = stream(w.seed, f"ami-{k}")
        cls = w.p_class[c0:c1]
        # occupancy factor via start/stop deltas of the accounts
        a0, a1 = np.searchsorted(acc_prem_sorted, [c0, c1])
        accs = acc_order[a0:a1]
        delta = np.zeros((n, D + 1), dtype=np.float32)
        ls = np.maximum(w.a_open[accs], w.start_o) - w.start_o
        le = np.minimum(w.a_close[accs], w.end_o + 1) - w.start_o
        ok = ls < le
        accs, ls, le = accs[ok], ls[ok], le[ok]
        rows = w.a_prem[accs] - c0
        f = (w.a_occ_factor[accs] - vac[w.p_class[w.a_prem[accs]]]).astype(np.float32)
        np.add.at(delta, (rows, ls), f)
        np.add.at(delta, (rows, le), -f)
        occ = np.cumsum(delta[:, :D], axis=1) + vac[cls][:, None]
        expected = (w.p_base[c0:c1, None].astype(np.float32) * season[cls] * occ)
        noise = np.exp(np.float32(0.2) * r.standard_normal((n, D), dtype=np.float32))
        est = r.random((n, D), dtype=np.float32) < 0.03
        value = np.where(est, np.round(expected, 3), np.round(expected * noise, 3))
        del noise, delta, occ, expected
        # installed meter days (new construction gets its meter inside the range)
        inst_col = np.clip(w.p_meter_inst[c0:c1] - w.start_o, 0, D)
        installed = cols[None, :] >= inst_col[:, None]
        if np.any(inst_col > 0):
            value[~installed] = 0.0
        # gaps: scattered missing days and a few multi-day communication outages
        gap = r.random((n, D), dtype=np.float32) < 0.0015
        n_runs = r.poisson(0.02 * D / 365.25, n)
        for row in np.flatnonzero(n_runs):
            for _ in range(int(n_runs[row])):
                g0 = int(r.integers(0, D))
                gap[row, g0:g0 + int(r.integers(2, 7))] = True
        gap &= installed
        est &= ~gap
        # period sums for the scheduled bills of these premises
        b0, b1 = np.searchsorted(s_prem_sorted, [c0, c1])
        sb = s_order[b0:b1]
        if sb.size:
            brow = w.a_prem[w.s_acc[sb]] - c0
            bs = w.s_start[sb] - w.start_o
            be = w.s_end[sb] - w.start_o
            cs = np.zeros((n, D + 1))
            np.cumsum(value, axis=1, dtype=np.float64, out=cs[:, 1:])
            w.s_sum[sb] = cs[brow, be + 1] - cs[brow, bs]
            w.s_gap_end[sb] = gap[brow, be]
            del cs
        # reads inside the AMI window, with the meter installed on each day
        meter = np.where(installed[:, ami_col0:], np.arange(c0, c1)[:, None], -1)
        e0, e1 = np.searchsorted(ex_prem_sorted, [c0, c1])
        for ei in ex_order[e0:e1]:
            meter[w.ex_prem[ei] - c0, max(w.ex_day[ei] - ami_first_o, 0):] = w.ex_meter[ei]
        gap_w = gap[:, ami_col0:]
        rr, cc = np.nonzero(installed[:, ami_col0:] & ~gap_w)
        gr, gc = np.nonzero(gap_w)
        value_w = value[:, ami_col0:]
        emit_reads(k, meter[rr, cc], ami_first_o + cc, value_w[rr, cc].astype(np.float64),
                   est[:, ami_col0:][rr, cc], meter[gr, gc], ami_first_o + gc)


# ---------------------------------------------------------------------------
# Bills, rebills and billing exceptions
# ---------------------------------------------------------------------------
def _amount(rate, days, kwh):
    return np.round((RATE_FIXED[rate] * days + RATE_ENERGY[rate] * kwh) * TAX, 2)


def _per_group_pick(r, group, rate) -> np.ndarray:
    """Pick floor(rate * n_g + U) random rows in each group g."""
    n = group.size
    out = np.zeros(n, bool)
    if n == 0:
        return out
    order = np.lexsort((r.random(n), group))
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, n])
    quota = np.floor(rate * sizes + r.random(starts.size)).astype(np.int64)
    rank = np.arange(n) - np.repeat(starts, sizes)
    out[order] = rank < np.repeat(quota, sizes)
    return out


def finish_bills(w) -> None:
    r = stream(w.seed, "bills")
    n = w.s_acc.size
    acc, run = w.s_acc, w.s_run
    start, end = w.s_start.copy(), w.s_end.copy()
    true_sum = w.s_sum.copy()
    same_next = np.zeros(n, bool)
    same_next[:-1] = acc[1:] == acc[:-1]
    u = r.random(n)
    # a missing cycle read either blocks the bill or makes it estimated
    blocked = (w.s_gap_end & (u < 0.35)) | (r.random(n) < 0.0012)
    blocked &= same_next  # a blocked period is caught up by the next bill
    prev_blocked = np.zeros(n, bool)
    prev_blocked[1:] = blocked[:-1]
    blocked &= ~prev_blocked  # never two blocked in a row
    prev_blocked = np.zeros(n, bool)
    prev_blocked[1:] = blocked[:-1]
    nb = np.flatnonzero(prev_blocked)
    start[nb] = start[nb - 1]
    true_sum[nb] += true_sum[nb - 1]
    w.block_acc, w.block_run = acc[blocked], run[blocked]
    w.block_reason = np.where(w.s_gap_end[blocked], 0, 1)  # missing_read / meter_not_found
    keep = ~blocked
    acc, run, start, end = acc[keep], run[keep], start[keep], end[keep]
    true_sum = true_sum[keep]
    gap_end = w.s_gap_end[keep]
    n = acc.size
    rate = w.a_rate[acc]
    days = end - start + 1
    # estimated (without a missing read) and far-off bills: a fixed share of
    # every billing run (randomised rounding), so small runs are not unlucky
    kind = _per_group_pick(r, run, 0.018)
    split = r.random(n)
    est = gap_end | (kind & (split < 0.5))
    far = kind & (split >= 0.5) & ~gap_end
    far_high = far & (r.random(n) < 0.7)
    far_low = far & ~far_high
    rate_mis = (~far) & (~est) & (r.random(n) < 0.005)
    kwh = true_sum.copy()
    kwh[est] *= r.uniform(0.82, 1.18, est.sum())
    kwh[far_high] *= r.uniform(1.6, 3.0, far_high.sum())
    kwh[far_low] *= r.uniform(0.2, 0.6, far_low.sum())
    kwh = np.round(kwh, 2)
    wrong_rate = np.where(np.isin(rate, [0, 3, 5]), rate + 1, rate - 1)
    amount = np.where(rate_mis, _amount(wrong_rate, days, kwh), _amount(rate, days, kwh))
    # previous bill of the same account: daily usage ratio (for high-bill effects)
    prev_same = np.zeros(n, bool)
    prev_same[1:] = acc[1:] == acc[:-1]
    daily = kwh / days
    ratio = np.ones(n)
    ratio[1:] = np.where(prev_same[1:], daily[1:] / np.maximum(daily[:-1], 1e-6), 1.0)
    # rebills at the next run of the same cycle
    rebill = (far & (r.random(n) < 0.65)) | (rate_mis & (r.random(n) < 0.7)) | \
             (est & (r.random(n) < 0.15)) | (r.random(n) < 0.0025)
    cyc = w.r_cycle[run]
    next_run = np.full(w.R, -1, dtype=np.int64)
    for c in range(4):
        runs = np.flatnonzero(w.r_cycle == c)
        next_run[runs[:-1]] = runs[1:]
    nr = next_run[run]
    rebill &= nr >= 0
    rb = np.flatnonzero(rebill)
    rb_kwh = np.round(true_sum[rb], 2)
    all_acc = np.concatenate([acc, acc[rb]])
    all_run = np.concatenate([run, nr[rb]])
    all_start = np.concatenate([start, start[rb]])
    all_end = np.concatenate([end, end[rb]])
    all_kwh = np.concatenate([kwh, rb_kwh])
    all_amount = np.concatenate([amount, _amount(rate[rb], days[rb], rb_kwh)])
    all_est = np.concatenate([est, np.zeros(rb.size, bool)])
    is_rebill = np.concatenate([np.zeros(n, bool), np.ones(rb.size, bool)])
    corrects_local = np.concatenate([np.full(n, -1), rb])
    order = np.lexsort((is_rebill, all_acc, w.r_date[all_run], all_run))
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    w.B = order.size
    w.b_acc = all_acc[order]
    w.b_run = all_run[order]
    w.b_date = w.r_date[w.b_run]
    w.b_start = all_start[order]
    w.b_end = all_end[order]
    w.b_kwh = all_kwh[order]
    w.b_amount = all_amount[order]
    w.b_est = all_est[order]
    cl = corrects_local[order]
    w.b_corrects = np.where(cl >= 0, inv[np.maximum(cl, 0)], -1)
    w.b_is_rebill = is_rebill[order]
    w.b_corrected = np.zeros(w.B, bool)
    w.b_corrected[w.b_corrects[w.b_corrects >= 0]] = True
    w.b_ratio = np.concatenate([ratio, np.ones(rb.size)])[order]
    w.b_far_high = np.concatenate([far_high, np.zeros(rb.size, bool)])[order]
    # exceptions on produced bills (index into the final bills)
    o_far_high = np.concatenate([far_high, np.zeros(rb.size, bool)])[order]
    o_far_low = np.concatenate([far_low, np.zeros(rb.size, bool)])[order]
    o_rate = np.concatenate([rate_mis, np.zeros(rb.size, bool)])[order]
    B = w.B
    u = r.random(B)
    etype = np.full(B, -1)
    etype[(w.b_ratio > 1.7) & (u < 0.25) & ~w.b_is_rebill] = 0
    etype[w.b_est & (r.random(B) < 0.45)] = 2
    etype[o_far_low & (r.random(B) < 0.6)] = 1
    etype[o_far_high & (r.random(B) < 0.85)] = 0
    etype[o_rate & (r.random(B) < 0.8)] = 3
    etype[(etype < 0) & ~w.b_is_rebill & (r.random(B) < 0.001)] = 0
    if B and not np.any(etype >= 0) and w.block_run.size == 0:
        etype[int(r.integers(0, B))] = 2  # tiny sets: at least one exception
    eb = np.flatnonzero(etype >= 0)
    # exception rows: bill exceptions + blocked bills
    ex_run = np.concatenate([w.b_run[eb], w.block_run])
    ex_bill = np.concatenate([eb, np.full(w.block_run.size, -1)])
    ex_acc = np.concatenate([w.b_acc[eb], w.block_acc])
    # 0 high_usage 1 low_usage 2 estimated_read 3 rate_mismatch 4 missing_read 5 meter_not_found
    ex_type = np.concatenate([etype[eb], 4 + w.block_reason])
    m = ex_run.size
    raised = w.r_date[ex_run] * DAY + r.integers(3600, 6 * 3600, m)
    hours = r.lognormal(math.log(30), 1.2, m)
    resolved = raised + (hours * 3600).astype(np.int64)
    unresolved = (r.random(m) < 0.07) | (resolved > w.end_o * DAY + DAY - 1)
    order = np.lexsort((ex_acc, raised))
    w.E = m
    w.e_run, w.e_bill, w.e_acc = ex_run[order], ex_bill[order], ex_acc[order]
    w.e_type, w.e_raised = ex_type[order], raised[order]
    w.e_resolved = np.where(unresolved[order], -1, resolved[order])


EXCEPTION_TYPES = ("high_usage", "low_usage", "estimated_read", "rate_mismatch",
                   "missing_read", "meter_not_found")


def active_on(w, acc, day) -> np.ndarray:
    return (w.a_open[acc] <= day) & (day < w.a_close[acc])
