"""Customer-experience side of the synthetic utility: portal users, autopay,
bill delivery preferences, payments, storms, contacts, service orders,
portal events and post-interaction surveys."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np

from .common import DAY, pick, pick_rows, stream, weekday
from .world import NONE_DAY, UNKNOWN_AREA_CODES, active_on, age_band_at

NONE_T = NONE_DAY * DAY
# contact channels / reasons / statuses (indices into the contract domains)
PHONE, CHAT, EMAIL, WALK_IN, IVR = range(5)
BILLING_INQ, HIGH_BILL, PAY_ARR, START_STOP, OUTAGE, METER, OTHER = range(7)
RESOLVED, UNRESOLVED, TRANSFERRED, ABANDONED = range(4)
# payment channels
AUTOPAY, PORTAL, MOBILE, PIVR, PHONE_AGENT, MAIL, PWALK = range(7)
# order types / statuses
START_SVC, STOP_SVC, TRANSFER_SVC, METER_EX, RECONNECT, INVESTIGATION = range(6)
OPEN, COMPLETED, CANCELLED = range(3)
# event types
(LOGIN, VIEW_BILL, VIEW_USAGE, MAKE_PAYMENT, ENROLL_AUTOPAY, ENROLL_PAPERLESS,
 EV_START_STOP, UPDATE_CONTACT, REPORT_OUTAGE) = range(9)
PAPER, EBILL, BOTH = range(3)


def build_cx(w) -> None:
    w.end_t = w.end_o * DAY + DAY - 1
    w.start_t = w.start_o * DAY
    w.a_band = age_band_at(w, w.a_cust, w.start_o)
    _portal_users(w)
    _autopay(w)
    _delivery_preferences(w)
    _payments(w)
    _storms(w)
    _contacts(w)
    _service_orders(w)
    _portal_events(w)
    _surveys(w)


def _rand_between(r, lo, hi):
    """Uniform integers in [lo, hi] (arrays, hi >= lo)."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    return lo + (r.random(lo.shape) * (hi - lo + 1)).astype(np.int64)


def _active_window(w, acc):
    lo = np.maximum(w.a_open[acc], w.start_o)
    hi = np.minimum(w.a_close[acc] - 1, w.end_o)
    return lo, hi


# ---------------------------------------------------------------------------
def _portal_users(w):
    r = stream(w.seed, "portal_users")
    A = w.A
    p_reg = np.array([0.68, 0.55, 0.40, 0.17, 0.35, 0.45])[w.a_band]
    reg = r.random(A) < p_reg
    lo, hi = _active_window(w, np.arange(A))
    pre = w.a_initial & (r.random(A) < 0.55)
    pre_lo = np.maximum(w.a_open, w.start_o - 6 * 365)
    day_pre = _rand_between(r, pre_lo, np.maximum(w.start_o - 1, pre_lo))
    day_in = _rand_between(r, lo, np.maximum(hi, lo))
    day_new = w.a_open + np.ceil(r.exponential(25, A)).astype(np.int64)
    day = np.where(pre, day_pre, np.where(w.a_initial, day_in, day_new))
    reg &= (day <= hi) & (lo <= hi)
    t = day * DAY + r.integers(7 * 3600, 23 * 3600, A)
    users = np.flatnonzero(reg)
    order = users[np.argsort(t[users], kind="stable")]
    w.U = order.size
    w.u_acc = order
    w.u_reg = t[order]
    w.a_user = np.full(A, -1, dtype=np.int64)
    w.a_user[order] = np.arange(w.U)
    w.a_user_reg = np.full(A, NONE_T, dtype=np.int64)
    w.a_user_reg[order] = w.u_reg
    cust = w.a_cust[order]
    same = w.c_has_email[cust] & (r.random(w.U) < 0.85)
    nums = r.integers(10, 10_000, w.U)
    emails = w.c_email[cust].copy()
    alt = np.flatnonzero(~same)
    for i in alt.tolist():
        emails[i] = f"portal.user{nums[i]}{i}@mail.example.com"
    w.u_email = emails


def _autopay(w):
    r = stream(w.seed, "autopay")
    A = w.A
    p = np.where(w.a_user >= 0, 0.45, 0.2)
    auto = r.random(A) < p
    lo, hi = _active_window(w, np.arange(A))
    pre = w.a_initial & (r.random(A) < 0.65)
    day_pre = np.maximum(w.a_open, w.start_o - r.integers(1, 1500, A))
    day = np.where(pre, day_pre, _rand_between(r, lo, np.maximum(lo, hi)))
    auto &= (lo <= hi) & (day <= hi)
    # enrolled in the portal (after registering) or by phone
    t = day * DAY + r.integers(8 * 3600, 22 * 3600, A)
    w.a_autopay_from = np.where(auto, t, NONE_T)


def _delivery_preferences(w):
    r = stream(w.seed, "delivery")
    A = w.A
    years0 = dt.date.fromordinal(w.start_o).year

    def adoption(day):
        y = (np.asarray(day) - dt.date(2015, 1, 1).toordinal()) / 365.25
        return np.clip(0.08 + 0.045 * y, 0.04, 0.75)

    factor = np.array([1.25, 1.10, 0.85, 0.35, 0.80, 0.95])[w.a_band]
    factor = factor * np.where(w.a_user >= 0, 1.35, 0.7)
    acc_l, meth_l, day_l = [], [], []
    # state at start (initial accounts) or at opening (new accounts)
    ref = np.where(w.a_initial, w.start_o, w.a_open)
    pe = np.clip(adoption(ref) * factor, 0, 0.95)
    u = r.random(A)
    state = np.where(u < pe * 0.72, EBILL, np.where(u < pe, BOTH, PAPER))
    first_day = np.where(
        w.a_initial,
        _rand_between(r, np.maximum(w.a_open, w.start_o - 2500), w.start_o - 1),
        w.a_open)
    explicit = (state != PAPER) | (r.random(A) < 0.08)
    lo, hi = _active_window(w, np.arange(A))
    explicit &= lo <= hi
    last = np.where(explicit, first_day, -1)
    idx = np.flatnonzero(explicit)
    acc_l.append(idx)
    meth_l.append(state[idx])
    day_l.append(first_day[idx])
    # monthly switching during the range; adoption grows over time
    s = dt.date.fromordinal(w.start_o)
    y, m = s.year, s.month
    w.pref_switch_acc, w.pref_switch_day, w.pref_switch_to = [], [], []
    while True:
        m0 = dt.date(y, m, 1).toordinal()
        if m0 > w.end_o:
            break
        m1 = (dt.date(y + (m == 12), m % 12 + 1, 1).toordinal()) - 1
        grow = 1 + 0.35 * (y - years0) + 0.03 * (m - 1)
        h_paper = 0.006 * factor * grow
        p_from = np.select(
            [state == PAPER, state == BOTH, state == EBILL],
            [h_paper, np.full(A, 0.03), np.full(A, 0.003)])
        sw = r.random(A) < p_from
        d_lo = np.maximum.reduce([np.full(A, max(m0, w.start_o)), lo, last + 1])
        d_hi = np.minimum(np.full(A, min(m1, w.end_o)), hi)
        sw &= d_lo <= d_hi
        idx = np.flatnonzero(sw)
        if idx.size:
            d = _rand_between(r, d_lo[idx], d_hi[idx])
            cur = state[idx]
            u2 = r.random(idx.size)
            new = np.where(cur == PAPER, np.where(u2 < 0.7, EBILL, BOTH),
                           np.where(cur == BOTH, np.where(u2 < 0.85, EBILL, PAPER),
                                    np.where(u2 < 0.7, PAPER, BOTH)))
            state[idx] = new
            last[idx] = d
            acc_l.append(idx)
            meth_l.append(new)
            day_l.append(d)
            w.pref_switch_acc.append(idx)
            w.pref_switch_day.append(d)
            w.pref_switch_to.append(new)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    acc = np.concatenate(acc_l)
    meth = np.concatenate(meth_l)
    day = np.concatenate(day_l)
    order = np.lexsort((day, acc))
    w.dp_acc, w.dp_method, w.dp_day = acc[order], meth[order], day[order]
    cat = (lambda lst: np.concatenate(lst) if lst else np.zeros(0, np.int64))
    w.pref_switch_acc = cat(w.pref_switch_acc)
    w.pref_switch_day = cat(w.pref_switch_day)
    w.pref_switch_to = cat(w.pref_switch_to)


# ---------------------------------------------------------------------------
def _shift_weekend(days, r, share=0.7):
    """Move a share of Saturday/Sunday days to the next Monday."""
    days = np.asarray(days, dtype=np.int64).copy()
    wd = weekday(days)
    move = (wd >= 5) & (r.random(days.size) < share)
    days[move] += 7 - wd[move]
    return days


def _payments(w):
    r = stream(w.seed, "payments")
    bills = np.flatnonzero(~w.b_corrected & (w.b_amount >= 1.0))
    acc = w.b_acc[bills]
    n = bills.size
    t_bill = w.b_date[bills] * DAY
    auto = w.a_autopay_from[acc] <= t_bill
    pays = auto | (r.random(n) < 0.93)
    user = w.a_user_reg[acc] <= t_bill
    band = w.a_band[acc]
    mob = np.array([0.45, 0.35, 0.22, 0.10, 0.25, 0.20])[band]
    mail = np.array([0.05, 0.08, 0.12, 0.25, 0.12, 0.15])[band]
    probs = np.zeros((n, 7))
    probs[:, PORTAL] = np.where(user, 0.42, 0.0)
    probs[:, MOBILE] = np.where(user, mob, 0.0)
    probs[:, PIVR] = np.where(user, 0.06, 0.24)
    probs[:, PHONE_AGENT] = np.where(user, 0.05, 0.18)
    probs[:, MAIL] = np.where(user, mail, 0.18 + mail)
    probs[:, PWALK] = np.where(user, 0.04, 0.14)
    ch = pick_rows(r, probs)
    ch = np.where(auto, AUTOPAY, ch)
    delay = np.where(auto, 14, np.minimum(np.ceil(r.gamma(2.0, 6.0, n)), 45)).astype(np.int64)
    delay += np.where(ch == MAIL, 3, 0)
    day = w.b_date[bills] + delay
    day = np.where(ch == PWALK, _shift_weekend(day, r, 1.0), day)
    lo_h = np.select([ch == AUTOPAY, ch == MAIL, ch == PWALK, ch == PHONE_AGENT, ch == PIVR],
                     [2, 10, 9, 8, 0], 6)
    hi_h = np.select([ch == AUTOPAY, ch == MAIL, ch == PWALK, ch == PHONE_AGENT, ch == PIVR],
                     [5, 16, 17, 20, 24], 24)
    sod = ((lo_h + r.random(n) * (hi_h - lo_h)) * 3600).astype(np.int64)
    paid = day * DAY + np.minimum(sod, DAY - 1)
    amount = w.b_amount[bills].copy()
    partial = ~auto & (r.random(n) < 0.04)
    amount[partial] = np.round(amount[partial] * r.uniform(0.3, 0.8, partial.sum()), 2)
    split = ~auto & ~partial & (r.random(n) < 0.05)
    first_part = np.round(amount * r.uniform(0.4, 0.7, n), 2)
    amount = np.where(split, first_part, amount)
    # second instalments
    si = np.flatnonzero(split & pays)
    second_amt = np.round(w.b_amount[bills][si] - first_part[si], 2)
    second_t = paid[si] + r.integers(8, 21, si.size) * DAY
    p_acc = np.concatenate([acc[pays], acc[si]])
    p_t = np.concatenate([paid[pays], second_t])
    p_amt = np.concatenate([amount[pays], second_amt])
    p_ch = np.concatenate([ch[pays], ch[si]])
    keep = (p_t <= w.end_t) & (p_amt > 0)
    p_acc, p_t, p_amt, p_ch = p_acc[keep], p_t[keep], p_amt[keep], p_ch[keep]
    order = np.lexsort((p_acc, p_t))
    w.PY = order.size
    w.py_acc, w.py_t, w.py_amount, w.py_channel = p_acc[order], p_t[order], p_amt[order], p_ch[order]


def _storms(w):
    r = stream(w.seed, "storms")
    days = np.arange(w.start_o, w.end_o + 1)
    months = np.array([dt.date.fromordinal(int(d)).month for d in days])
    weight = np.array([1.5, 1.2, 0.8, 0.7, 1.0, 1.6, 2.2, 2.2, 1.0, 0.6, 0.8, 1.5])[months - 1]
    n = r.poisson(5 * w.D / 365.25)
    if w.D >= 45:
        n = max(n, 1)
    n = min(n, w.D)
    sd = r.choice(days, size=n, replace=False, p=weight / weight.sum()) if n else np.zeros(0, np.int64)
    w.storm_day = np.sort(sd)
    w.storm_len = r.integers(1, 3, n)
    w.storm_areas = [np.unique(r.choice(5, size=int(r.integers(1, 4)), replace=True)) for _ in range(n)]


# ---------------------------------------------------------------------------
def _contacts(w):
    r = stream(w.seed, "contacts")
    seeds_acc, seeds_reason, seeds_day, seeds_mode = [], [], [], []
    # mode: 0 assisted first, 1 ivr self-service, 2 outage mix

    def add(acc, reason, day, mode):
        seeds_acc.append(np.asarray(acc, dtype=np.int64))
        seeds_reason.append(np.full(len(acc), reason))
        seeds_day.append(np.asarray(day, dtype=np.int64))
        seeds_mode.append(np.full(len(acc), mode))

    orig = np.flatnonzero(~w.b_is_rebill)
    B = orig.size
    high = (w.b_ratio[orig] > 1.35) | w.b_far_high[orig]
    p_high = np.where(w.b_far_high[orig], 0.6, np.where(high, 0.3, 0.0))
    s = orig[r.random(B) < p_high]
    add(w.b_acc[s], HIGH_BILL, w.b_date[s] + 2 + np.ceil(r.gamma(2, 3, s.size)).astype(np.int64), 0)
    s = orig[r.random(B) < 0.018]
    add(w.b_acc[s], BILLING_INQ, w.b_date[s] + r.integers(1, 20, s.size), 0)
    s = orig[r.random(B) < 0.025]
    add(w.b_acc[s], BILLING_INQ, w.b_date[s] + r.integers(1, 25, s.size), 1)
    s = orig[r.random(B) < np.where(high, 0.03, 0.007)]
    add(w.b_acc[s], PAY_ARR, w.b_date[s] + r.integers(10, 26, s.size), 0)
    # moves
    opened = np.flatnonzero(~w.a_initial & (w.a_open >= w.start_o))
    s = opened[r.random(opened.size) < 0.5]
    add(s, START_STOP, w.a_open[s] - r.integers(1, 15, s.size), 0)
    closed = np.flatnonzero(w.a_close <= w.end_o)
    s = closed[r.random(closed.size) < 0.45]
    add(s, START_STOP, w.a_close[s] - r.integers(1, 15, s.size), 0)
    # storms: outage reports from the affected areas
    acc_area = w.p_area[w.a_prem]
    w.storm_hits = []
    for d, ln, areas in zip(w.storm_day.tolist(), w.storm_len.tolist(), w.storm_areas):
        cand = np.flatnonzero(np.isin(acc_area, areas) & active_on(w, np.arange(w.A), d))
        hit = cand[r.random(cand.size) < 0.035]
        add(hit, OUTAGE, d + r.integers(0, ln, hit.size), 2)
        w.storm_hits.append((d, ln, areas))
    # meter exchanges at occupied premises
    occ_acc = _account_at(w, w.ex_prem, w.ex_day)
    ok = np.flatnonzero(occ_acc >= 0)
    s = ok[r.random(ok.size) < 0.3]
    add(occ_acc[s], METER, w.ex_day[s] + r.integers(-10, 11, s.size), 0)
    # background rates per active account-year
    lo, hi = _active_window(w, np.arange(w.A))
    years = np.maximum(hi - lo + 1, 0) / 365.25
    for reason, rate, mode in ((OUTAGE, 0.012, 2), (METER, 0.01, 0), (OTHER, 0.045, 0),
                               (BILLING_INQ, 0.02, 0)):
        cnt = r.poisson(rate * years)
        a = np.repeat(np.arange(w.A), cnt)
        add(a, reason, _rand_between(r, lo[a], hi[a]), mode)
    # prospects and strangers: no account at all
    n_pro = r.poisson(0.006 * years.sum())
    add(np.full(n_pro, -1), START_STOP, r.integers(w.start_o, w.end_o + 1, n_pro), 0)
    n_oth = r.poisson(0.003 * years.sum())
    add(np.full(n_oth, -1), OTHER, r.integers(w.start_o, w.end_o + 1, n_oth), 0)

    s_acc = np.concatenate(seeds_acc)
    s_reason = np.concatenate(seeds_reason)
    s_day = np.concatenate(seeds_day)
    s_mode = np.concatenate(seeds_mode)
    keep = (s_day >= w.start_o) & (s_day <= w.end_o)
    s_acc, s_reason, s_day, s_mode = s_acc[keep], s_reason[keep], s_day[keep], s_mode[keep]
    S = s_acc.size
    band = np.where(s_acc >= 0, w.a_band[np.maximum(s_acc, 0)], 4)
    # first channel
    chat = np.array([0.24, 0.17, 0.10, 0.04, 0.12, 0.10])[band]
    probs = np.zeros((S, 5))
    probs[:, PHONE] = 0.62
    probs[:, CHAT] = chat
    probs[:, EMAIL] = 0.10
    probs[:, WALK_IN] = np.where(band == 3, 0.07, 0.035)
    probs[:, IVR] = 0.10
    m2 = s_mode == 2
    probs[m2] = [0.40, 0.05, 0.0, 0.0, 0.55]
    probs[s_mode == 1] = [0, 0, 0, 0, 1.0]
    ch0 = pick_rows(r, probs)
    # contacts per ticket
    k = 1 + pick(r, None, [0.77, 0.15, 0.05, 0.03], S)
    k = np.where(s_mode == 1, 1 + (r.random(S) < 0.06), k)
    ivr_status = pick(r, None, [0.62, 0.25, 0.13], S)  # resolved, transferred, abandoned
    ivr_first = ch0 == IVR
    k = np.where(ivr_first & (ivr_status == 1), np.maximum(k, 2), k)
    k = np.where(ivr_first & (ivr_status != 1), 1, k)
    # expand
    tix = np.repeat(np.arange(S), k)
    pos = np.arange(tix.size) - np.repeat(np.cumsum(k) - k, k)
    N = tix.size
    ch = np.where(pos == 0, ch0[tix], pick(r, None, [0.70, 0.12, 0.12, 0.06], N))
    after_ivr_transfer = (pos == 1) & ivr_first[tix]
    ch = np.where(after_ivr_transfer, PHONE, ch)
    # start times
    start_day = s_day[tix]
    wk = np.isin(ch, [PHONE, CHAT, WALK_IN]) & (s_mode[tix] != 2)
    start_day = np.where(wk, _shift_weekend(start_day, r, np.where(ch == WALK_IN, 1.0, 0.6)), start_day)
    lo_h = np.select([s_mode[tix] == 2, ch == WALK_IN, ch == PHONE, ch == CHAT], [0, 9, 7, 7], 0)
    hi_h = np.select([s_mode[tix] == 2, ch == WALK_IN, ch == PHONE, ch == CHAT], [24, 17, 20, 22], 24)
    sod = ((lo_h + r.random(N) * (hi_h - lo_h)) * 3600).astype(np.int64)
    t = start_day * DAY + np.minimum(sod, DAY - 1)
    # follow-ups: within 7 days or later
    gap = np.where(r.random(N) < 0.55, r.uniform(0.05, 6.9, N), r.uniform(7.1, 30, N)) * DAY
    gap = np.where(after_ivr_transfer, r.integers(40, 400, N), gap).astype(np.int64)
    gap = np.where(pos == 0, 0, gap)
    # cumulative offsets inside a ticket
    csum = np.cumsum(gap)
    base = np.repeat(csum[np.cumsum(k) - k], k)
    t0 = np.repeat(t[np.cumsum(k) - k], k)
    t = np.where(pos == 0, t, t0 + (csum - base))
    # statuses
    last = pos == np.repeat(k - 1, k)
    single = np.repeat(k == 1, k)
    st_single = pick(r, None, [0.84, 0.06, 0.03, 0.07], N)
    st_first = pick(r, None, [0.45, 0.30, 0.10, 0.15], N)
    st_mid = pick(r, None, [0.45, 0.35, 0.12, 0.08], N)
    st_last = pick(r, None, [0.75, 0.15, 0.05, 0.05], N)
    status = np.where(single, st_single, np.where(pos == 0, st_first, np.where(last, st_last, st_mid)))
    no_abandon = np.isin(ch, [EMAIL, WALK_IN])
    status = np.where(no_abandon & (status == ABANDONED), RESOLVED, status)
    ivr_row = ch == IVR
    status = np.where(ivr_row, np.array([RESOLVED, TRANSFERRED, ABANDONED])[ivr_status[tix]], status)
    # a transferred IVR call always has the agent leg right after it
    # tickets: IVR self-service and abandoned single calls often have none
    has_ticket = np.ones(S, bool)
    sm = k == 1
    has_ticket[sm & ivr_first & (r.random(S) < 0.6)] = False
    first_status = status[np.cumsum(k) - k]
    has_ticket[sm & (first_status == ABANDONED) & (r.random(S) < 0.5)] = False
    has_ticket[sm & (r.random(S) < 0.02)] = False
    # drop what falls after the range end (a ticket whose first contact is
    # before the start was never generated)
    keep = t <= w.end_t
    acc = s_acc[tix]
    reason = s_reason[tix]
    # identification and caller phone
    band_c = np.where(acc >= 0, w.a_band[np.maximum(acc, 0)], 4)
    ident_p = np.select([ch == PHONE, ch == CHAT, ch == EMAIL, ch == WALK_IN], [0.93, 0.85, 0.9, 0.97], 0.7)
    identified = (acc >= 0) & (r.random(N) < ident_p)
    cust = np.where(acc >= 0, w.a_cust[np.maximum(acc, 0)], -1)
    cphone = np.where(cust >= 0, w.c_phone[np.maximum(cust, 0)], -1)
    voice = np.isin(ch, [PHONE, IVR])
    use_own = (cphone >= 0) & np.where(voice, r.random(N) < 0.92, r.random(N) < 0.10)
    unknown_num = (UNKNOWN_AREA_CODES[r.integers(0, UNKNOWN_AREA_CODES.size, N)] * 10_000_000
                   + r.integers(2_000_000, 9_999_999, N))
    phone = np.where(use_own, cphone, np.where(voice & (r.random(N) < 0.9), unknown_num, -1))
    # agents
    assisted = ch != IVR
    n_agents = int(np.clip(N / max(w.D, 1) / 20, 8, 4000))
    agent = r.integers(0, n_agents, N)
    agent_set = assisted & ((status != ABANDONED) | (r.random(N) < 0.2))
    agent = np.where(agent_set, agent, -1)
    # handling times
    med = np.array([330, 480, 420, 540, 200, 380, 300], dtype=np.float64)[reason]
    mult = np.select([ch == CHAT, ch == EMAIL, ch == WALK_IN], [1.8, 0.8, 1.5], 1.0)
    mult = mult * np.where(status == TRANSFERRED, 0.6, 1.0)
    talk = np.round(med * mult * np.exp(0.5 * r.standard_normal(N))).astype(np.int64)
    hold = np.where((ch == PHONE) | (ch == WALK_IN),
                    np.where(r.random(N) < 0.5, 0, np.round(r.lognormal(math.log(75), 0.8, N))), 0
                    ).astype(np.int64)
    wrap = np.round(np.select([ch == EMAIL, ch == CHAT], [60, 40], 50) *
                    np.exp(0.5 * r.standard_normal(N))).astype(np.int64)
    ab = status == ABANDONED
    talk = np.where(ab, np.where(agent >= 0, r.integers(5, 40, N), 0), talk)
    hold = np.where(ab, np.round(r.lognormal(math.log(90), 0.7, N)).astype(np.int64), hold)
    wrap = np.where(ab, 0, wrap)
    talk = np.where(ivr_row, -1, talk)
    hold = np.where(ivr_row, -1, hold)
    wrap = np.where(ivr_row, -1, wrap)
    acc_out = np.where(identified, acc, -1)
    # apply the range filter
    sel = np.flatnonzero(keep)
    tix, t, acc_out, acc_true = tix[sel], t[sel], acc_out[sel], acc[sel]
    ch, reason, status, phone = ch[sel], reason[sel], status[sel], phone[sel]
    agent, talk, hold, wrap = agent[sel], talk[sel], hold[sel], wrap[sel]
    # guarantee phone-only callers that match two accounts (shared household phone)
    extra = _shared_phone_calls(w, r)
    if extra is not None:
        e_acc, e_t, e_phone = extra
        ne = e_acc.size
        tix = np.concatenate([tix, np.full(ne, -1)])
        t = np.concatenate([t, e_t])
        acc_out = np.concatenate([acc_out, np.full(ne, -1)])
        acc_true = np.concatenate([acc_true, e_acc])
        ch = np.concatenate([ch, np.full(ne, PHONE)])
        reason = np.concatenate([reason, np.full(ne, BILLING_INQ)])
        status = np.concatenate([status, np.full(ne, RESOLVED)])
        phone = np.concatenate([phone, e_phone])
        agent = np.concatenate([agent, r.integers(0, n_agents, ne)])
        talk = np.concatenate([talk, r.integers(120, 600, ne)])
        hold = np.concatenate([hold, np.zeros(ne, np.int64)])
        wrap = np.concatenate([wrap, r.integers(20, 90, ne)])
    # ticket numbering by first contact time
    order = np.lexsort((tix, t))
    t, tix, acc_out, acc_true = t[order], tix[order], acc_out[order], acc_true[order]
    ch, reason, status, phone = ch[order], reason[order], status[order], phone[order]
    agent, talk, hold, wrap = agent[order], talk[order], hold[order], wrap[order]
    tick_ok = (tix >= 0) & has_ticket[np.maximum(tix, 0)]
    _, first_idx, inv = np.unique(np.where(tick_ok, tix, -1), return_index=True, return_inverse=True)
    # number tickets in order of their first contact
    uniq_t = np.unique(np.where(tick_ok, tix, -1))
    firsts = first_idx[uniq_t >= 0]
    rank = np.empty(firsts.size, dtype=np.int64)
    rank[np.argsort(firsts, kind="stable")] = np.arange(firsts.size)
    tmap = np.full(uniq_t.size, -1, dtype=np.int64)
    tmap[uniq_t >= 0] = rank
    w.CT = t.size
    w.ct_t = t
    w.ct_ticket = np.where(tick_ok, tmap[inv.ravel()], -1)
    w.T = firsts.size
    w.ct_acc = acc_out
    w.ct_acc_true = acc_true
    w.ct_channel, w.ct_reason, w.ct_status = ch, reason, status
    w.ct_phone = phone
    w.ct_phone_fmt = r.integers(0, 4, w.CT)
    w.ct_agent, w.ct_talk, w.ct_hold, w.ct_wrap = agent, talk, hold, wrap
    w.n_agents = n_agents


def _shared_phone_calls(w, r):
    """A couple of calls from a shared household phone while both accounts are active."""
    pairs = w.c_shared_pairs
    if pairs.size == 0:
        return None
    out_acc, out_t, out_phone = [], [], []
    for c1, c2 in pairs[: min(3, len(pairs))].tolist():
        a1 = np.flatnonzero(w.a_cust == c1)
        a2 = np.flatnonzero(w.a_cust == c2)
        if a1.size == 0 or a2.size == 0:
            continue
        lo = max(w.start_o, int(w.a_open[a1].min()), int(w.a_open[a2].min()))
        hi = min(w.end_o, int(w.a_close[a1].max()) - 1, int(w.a_close[a2].max()) - 1)
        if lo > hi:
            continue
        d = int(r.integers(lo, hi + 1))
        if not (active_on(w, a1, d).any() and active_on(w, a2, d).any()):
            continue
        out_acc.append(int(a1[0]))
        out_t.append(d * DAY + int(r.integers(9 * 3600, 17 * 3600)))
        out_phone.append(int(w.c_phone[c1]))
    if not out_acc:
        return None
    return np.array(out_acc), np.array(out_t), np.array(out_phone)


def _account_at(w, prem, day):
    """The account occupying each premise on each day (-1 when vacant)."""
    prem = np.asarray(prem, dtype=np.int64)
    day = np.asarray(day, dtype=np.int64)
    out = np.full(prem.size, -1, dtype=np.int64)
    if prem.size == 0:
        return out
    order = np.lexsort((w.a_open, w.a_prem))
    key_p, key_o = w.a_prem[order], w.a_open[order]
    # last account on the premise opened on or before the day
    big = np.int64(1) << 32
    pos = np.searchsorted(key_p * big + key_o, prem * big + day, "right") - 1
    ok = pos >= 0
    cand = order[np.maximum(pos, 0)]
    ok &= (w.a_prem[cand] == prem) & active_on(w, cand, day)
    out[ok] = cand[ok]
    return out


# ---------------------------------------------------------------------------
def _service_orders(w):
    r = stream(w.seed, "orders")
    acc_l, typ_l, st_l, cr_l, co_l = [], [], [], [], []

    def add(acc, typ, created, completed, status):
        acc_l.append(np.asarray(acc, dtype=np.int64))
        typ_l.append(np.full(len(acc), typ))
        cr_l.append(np.asarray(created, dtype=np.int64))
        co_l.append(np.asarray(completed, dtype=np.int64))
        st_l.append(np.asarray(status, dtype=np.int64))

    opened = np.flatnonzero(~w.a_initial & (w.a_open >= w.start_o))
    done = w.a_open[opened] * DAY + r.integers(8 * 3600, 16 * 3600, opened.size)
    typ = np.where(w.a_mover[opened], TRANSFER_SVC, START_SVC)
    for tcode in (START_SVC, TRANSFER_SVC):
        m = typ == tcode
        add(opened[m], tcode, done[m] - r.integers(1, 22, m.sum()) * DAY - r.integers(0, 6 * 3600, m.sum()),
            done[m], np.full(m.sum(), COMPLETED))
    closed = np.flatnonzero(w.a_close <= w.end_o)
    done = w.a_close[closed] * DAY + r.integers(8 * 3600, 17 * 3600, closed.size)
    add(closed, STOP_SVC, done - r.integers(1, 22, closed.size) * DAY, done, np.full(closed.size, COMPLETED))
    # stops requested for a day after the extract: still open
    at_end = np.flatnonzero(w.a_close > w.end_o)
    s = at_end[r.random(at_end.size) < 0.015]
    add(s, STOP_SVC, w.end_o * DAY - r.integers(0, 14, s.size) * DAY + r.integers(8 * 3600, 18 * 3600, s.size),
        np.full(s.size, -1), np.full(s.size, OPEN))
    # cancelled start requests
    c = r.choice(opened, size=int(opened.size * 0.04), replace=False) if opened.size else opened
    cr = (w.a_open[c] - r.integers(20, 60, c.size)) * DAY + r.integers(9 * 3600, 17 * 3600, c.size)
    add(c, START_SVC, cr, np.full(c.size, -1), np.full(c.size, CANCELLED))
    # meter exchanges at occupied premises
    acc = _account_at(w, w.ex_prem, w.ex_day)
    ok = acc >= 0
    a, d = acc[ok], w.ex_day[ok]
    done = d * DAY + r.integers(8 * 3600, 16 * 3600, a.size)
    add(a, METER_EX, done - r.integers(5, 41, a.size) * DAY, done, np.full(a.size, COMPLETED))
    resch = r.random(a.size) < 0.08
    add(a[resch], METER_EX, done[resch] - r.integers(45, 90, resch.sum()) * DAY,
        np.full(resch.sum(), -1), np.full(resch.sum(), CANCELLED))
    # reconnects after a disconnection for non-payment
    lo, hi = _active_window(w, np.arange(w.A))
    years = np.maximum(hi - lo + 1, 0) / 365.25
    cnt = r.poisson(0.015 * years * np.where(w.a_class == 0, 1.0, 0.3))
    a = np.repeat(np.arange(w.A), cnt)
    cr = _rand_between(r, lo[a], hi[a]) * DAY + r.integers(8 * 3600, 18 * 3600, a.size)
    st = np.where(r.random(a.size) < 0.9, COMPLETED, CANCELLED)
    add(a, RECONNECT, cr, np.where(st == COMPLETED, cr + r.integers(1800, 2 * DAY, a.size), -1), st)
    # investigations raised by high-bill and meter contacts
    first = (w.ct_acc_true >= 0) & (w.ct_channel != IVR)
    p = np.select([w.ct_reason == HIGH_BILL, w.ct_reason == METER], [0.25, 0.4], 0.0)
    s = np.flatnonzero(first & (r.random(w.CT) < p))
    cr = w.ct_t[s] + np.maximum(w.ct_talk[s], 0) + 120
    st = pick(r, None, [0.15, 0.75, 0.10], s.size)
    add(w.ct_acc_true[s], INVESTIGATION, cr,
        np.where(st == COMPLETED, cr + r.integers(DAY, 20 * DAY, s.size), -1), st)
    acc = np.concatenate(acc_l)
    typ = np.concatenate(typ_l)
    cr = np.concatenate(cr_l)
    co = np.concatenate(co_l)
    st = np.concatenate(st_l)
    keep = (cr >= w.start_t) & (cr <= w.end_t)
    acc, typ, cr, co, st = acc[keep], typ[keep], cr[keep], co[keep], st[keep]
    late = (st == COMPLETED) & (co > w.end_t)  # not done yet at the extract
    st = np.where(late, OPEN, st)
    co = np.where(st == COMPLETED, co, -1)
    order = np.lexsort((acc, cr))
    w.SO = order.size
    w.so_acc, w.so_type, w.so_status = acc[order], typ[order], st[order]
    w.so_created, w.so_completed = cr[order], co[order]


# ---------------------------------------------------------------------------
def _portal_events(w):
    r = stream(w.seed, "portal_events")
    U = w.U
    acc = w.u_acc
    ev_u, ev_t, ev_type, ev_ch = [], [], [], []
    mob_p = np.array([0.62, 0.48, 0.32, 0.15, 0.35, 0.25])[w.a_band[acc]]

    def add(users, t, typ, channel):
        ev_u.append(np.asarray(users, dtype=np.int64))
        ev_t.append(np.asarray(t, dtype=np.int64))
        ev_type.append(np.broadcast_to(np.asarray(typ), (len(users),)).astype(np.int64))
        ev_ch.append(np.asarray(channel, dtype=np.int64))

    lo_t = np.maximum(w.u_reg, w.start_t)
    hi_t = np.minimum(w.a_close[acc] * DAY - 1, w.end_t)
    span = np.maximum(hi_t - lo_t, 0)
    rate = np.exp(math.log(1.6) + 0.6 * r.standard_normal(U)) * np.where(w.a_band[acc] <= 1, 1.3, 1.0)
    n_sess = r.poisson(rate * span / (30 * DAY))
    su = np.repeat(np.arange(U), n_sess)
    st = lo_t[su] + (r.random(su.size) * span[su]).astype(np.int64)
    sch = (r.random(su.size) < mob_p[su]).astype(np.int64)
    add(su, st, LOGIN, sch)
    for typ, p, off in ((VIEW_BILL, 0.6, (20, 300)), (VIEW_USAGE, 0.35, (30, 600)),
                        (UPDATE_CONTACT, 0.02, (60, 900))):
        m = r.random(su.size) < p
        add(su[m], st[m] + r.integers(off[0], off[1], m.sum()), typ, sch[m])
    # payments made in the portal or the app
    pm = np.flatnonzero(np.isin(w.py_channel, [PORTAL, MOBILE]))
    u_of = w.a_user[w.py_acc[pm]]
    ok = (u_of >= 0)
    pm, u_of = pm[ok], u_of[ok]
    ch = (w.py_channel[pm] == MOBILE).astype(np.int64)
    add(u_of, w.py_t[pm] - r.integers(60, 400, pm.size), LOGIN, ch)
    add(u_of, w.py_t[pm], MAKE_PAYMENT, ch)
    # autopay enrolment
    ap = np.flatnonzero((w.a_autopay_from < NONE_T) & (w.a_user >= 0))
    t = w.a_autopay_from[ap]
    ok = t >= w.a_user_reg[ap]
    add(w.a_user[ap[ok]], t[ok], ENROLL_AUTOPAY, (r.random(ok.sum()) < mob_p[w.a_user[ap[ok]]]).astype(np.int64))
    # paperless enrolment
    sw = np.flatnonzero(np.isin(w.pref_switch_to, [1, 2]) & (w.a_user[w.pref_switch_acc] >= 0))
    a = w.pref_switch_acc[sw]
    t = w.pref_switch_day[sw] * DAY + r.integers(7 * 3600, 23 * 3600, sw.size)
    ok = (t >= w.a_user_reg[a]) & (r.random(sw.size) < 0.75)
    uu = w.a_user[a[ok]]
    add(uu, t[ok], ENROLL_PAPERLESS, (r.random(uu.size) < mob_p[uu]).astype(np.int64))
    # stop / move requests before a closure
    cl = np.flatnonzero((w.a_close <= w.end_o) & (w.a_user >= 0))
    t = (w.a_close[cl] - r.integers(3, 21, cl.size)) * DAY + r.integers(8 * 3600, 22 * 3600, cl.size)
    ok = (t >= w.a_user_reg[cl]) & (r.random(cl.size) < 0.4)
    uu = w.a_user[cl[ok]]
    add(uu, t[ok], EV_START_STOP, (r.random(uu.size) < mob_p[uu]).astype(np.int64))
    # outage reports during storms
    area = w.p_area[w.a_prem[acc]]
    for d, ln, areas in w.storm_hits:
        cand = np.flatnonzero(np.isin(area, areas) & active_on(w, acc, d))
        hit = cand[r.random(cand.size) < 0.05]
        t = d * DAY + r.integers(0, ln * DAY, hit.size)
        add(hit, t, REPORT_OUTAGE, (r.random(hit.size) < np.minimum(mob_p[hit] + 0.2, 1)).astype(np.int64))
    uu = np.concatenate(ev_u)
    tt = np.concatenate(ev_t)
    ty = np.concatenate(ev_type)
    cc = np.concatenate(ev_ch)
    keep = (tt >= w.start_t) & (tt <= w.end_t) & (tt >= w.u_reg[uu])
    uu, tt, ty, cc = uu[keep], tt[keep], ty[keep], cc[keep]
    # small sets: make sure every event type shows up on both channels
    lo_u = np.maximum(w.u_reg, w.start_t)
    hi_u = np.minimum(w.a_close[acc] * DAY - 1, w.end_t)
    able = np.flatnonzero(hi_u > lo_u)
    extra_u, extra_t, extra_ty, extra_c = [], [], [], []
    if able.size:
        for typ in range(9):
            for chn in (0, 1):
                if np.any((ty == typ) & (cc == chn)):
                    continue
                flip = np.flatnonzero((ty == typ) & (cc != chn))
                if flip.size >= 2:
                    cc[flip[int(r.integers(0, flip.size))]] = chn
                    continue
                u1 = able[int(r.integers(0, able.size))]
                extra_u.append(u1)
                extra_t.append(int(lo_u[u1] + r.integers(0, hi_u[u1] - lo_u[u1])))
                extra_ty.append(typ)
                extra_c.append(chn)
    if extra_u:
        uu = np.concatenate([uu, extra_u])
        tt = np.concatenate([tt, extra_t])
        ty = np.concatenate([ty, extra_ty])
        cc = np.concatenate([cc, extra_c])
    order = np.lexsort((ty, uu, tt))
    w.EV = order.size
    w.ev_user, w.ev_t, w.ev_type, w.ev_channel = uu[order], tt[order], ty[order], cc[order]


# ---------------------------------------------------------------------------
def _surveys(w):
    r = stream(w.seed, "surveys")
    # candidates: (account, event time, type rank, id, type)
    # tie order: contact, service_order, payment, bill -> rank 0..3
    assisted = (w.ct_channel != IVR) & (w.ct_status != ABANDONED) & (w.ct_acc >= 0)
    ci = np.flatnonzero(assisted)
    c_t = w.ct_t[ci] + w.ct_talk[ci] + np.maximum(w.ct_hold[ci], 0) + np.maximum(w.ct_wrap[ci], 0)
    so = np.flatnonzero(w.so_status == COMPLETED)
    acc = np.concatenate([w.ct_acc[ci], w.so_acc[so], w.py_acc, w.b_acc])
    et = np.concatenate([c_t, w.so_completed[so], w.py_t, w.b_date * DAY])
    rank = np.concatenate([np.zeros(ci.size, np.int64), np.ones(so.size, np.int64),
                           np.full(w.PY, 2), np.full(w.B, 3)])
    ids = np.concatenate([ci, so, np.arange(w.PY), np.arange(w.B)])
    bad_exp = np.concatenate([np.isin(w.ct_status[ci], [UNRESOLVED, TRANSFERRED]),
                              np.zeros(so.size, bool), np.zeros(w.PY, bool), w.b_far_high])
    eligible = active_on(w, acc, et // DAY) & w.c_has_email[w.a_cust[acc]] & ~w.c_opt_out[w.a_cust[acc]]
    order = np.lexsort((ids, rank, et, acc))
    acc_s, et_s, el_s = acc[order], et[order], eligible[order]
    # greedy 30-day cooldown among eligible candidates, per account
    e_idx = np.flatnonzero(el_s)
    ea, ee = acc_s[e_idx], et_s[e_idx]
    big = np.int64(1) << 38
    key = ea.astype(np.int64) * big + (ee - w.start_t + 40 * DAY)
    nxt = np.searchsorted(key, key + 30 * DAY, "left")
    nxt_ok = np.zeros(nxt.size, bool)
    inb = nxt < ea.size
    nxt_ok[inb] = ea[np.minimum(nxt[inb], ea.size - 1)] == ea[inb]
    selected = np.zeros(ea.size, bool)
    if ea.size:
        first = np.ones(ea.size, bool)
        first[1:] = ea[1:] != ea[:-1]
        frontier = np.flatnonzero(first)
        while frontier.size:
            selected[frontier] = True
            frontier = nxt[frontier[nxt_ok[frontier]]]
    sel_sorted = np.zeros(acc.size, bool)
    sel_sorted[e_idx[selected]] = True
    sup_sorted = np.zeros(acc.size, bool)
    sup_sorted[e_idx[~selected]] = True  # cooldown-suppressed
    selected_c = np.zeros(acc.size, bool)
    selected_c[order] = sel_sorted
    cooldown_c = np.zeros(acc.size, bool)
    cooldown_c[order] = sup_sorted
    p_send = np.array([0.85, 0.8, 0.10, 0.10])[rank]
    send = selected_c & (r.random(acc.size) < p_send)
    stray = np.flatnonzero(cooldown_c)
    if stray.size:
        k = max(1, int(stray.size * 0.003))
        send[r.choice(stray, size=k, replace=False)] = True
    si = np.flatnonzero(send)
    late = r.random(si.size) < 0.03
    sent = et[si] + np.where(late, 48 * 3600 + r.integers(2 * 3600, 96 * 3600, si.size),
                             r.integers(24 * 3600 + 60, 48 * 3600 - 60, si.size))
    ok = sent <= w.end_t
    si, sent = si[ok], sent[ok]
    bad = bad_exp[si]
    responds = r.random(si.size) < np.where(bad, 0.36, 0.29)
    resp = sent + (np.minimum(r.lognormal(math.log(6), 1.3, si.size), 14 * 24) * 3600).astype(np.int64)
    responds &= resp <= w.end_t
    good_p = [0.04, 0.06, 0.12, 0.30, 0.48]
    bad_p = [0.22, 0.22, 0.24, 0.18, 0.14]
    score = np.where(bad, pick(r, None, bad_p, si.size), pick(r, None, good_p, si.size)) + 1
    order = np.lexsort((si, sent))
    si, sent, resp, responds, score = si[order], sent[order], resp[order], responds[order], score[order]
    w.SV = si.size
    w.sv_acc = acc[si]
    w.sv_type = rank[si]  # 0 contact 1 service_order 2 payment 3 bill
    w.sv_trigger = ids[si]
    w.sv_sent = sent
    w.sv_resp = np.where(responds, resp, -1)
    w.sv_score = np.where(responds, score, -1)
