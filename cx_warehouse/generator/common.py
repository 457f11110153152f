"""Shared contract tables and fast formatting helpers for the CIS generator.

Only numpy and the standard library are used.  Everything that turns numbers
into text works on whole numpy arrays: ids, dates and timestamps are built as
fixed-width byte buffers, decimals digit by digit.
"""
from __future__ import annotations

import datetime as dt
import zlib

import numpy as np

# --------------------------------------------------------------------------
# The contract (cis-exports.md): files, columns in order, keys, types, domains
# --------------------------------------------------------------------------
FILES: dict[str, list[str]] = {
    "raw_customers": ["customer_id", "full_name", "email", "phone", "birth_date", "survey_opt_out"],
    "raw_accounts": ["account_id", "customer_id", "premise_id", "account_class",
                     "rate_code", "service_area", "opened_date", "closed_date"],
    "raw_meter_installs": ["meter_id", "premise_id", "installed_date", "removed_date"],
    "raw_ami_daily_reads": ["meter_id", "read_date", "kwh", "read_quality"],
    "raw_billing_runs": ["billing_run_id", "run_date", "bill_cycle"],
    "raw_bills": ["bill_id", "account_id", "billing_run_id", "bill_date",
                  "service_period_start", "service_period_end", "billed_kwh",
                  "amount_due", "is_estimated", "corrects_bill_id"],
    "raw_billing_exceptions": ["exception_id", "billing_run_id", "bill_id", "account_id",
                               "exception_type", "raised_at", "resolved_at"],
    "raw_payments": ["payment_id", "account_id", "paid_at", "amount", "payment_channel"],
    "raw_service_orders": ["service_order_id", "account_id", "order_type", "status",
                           "created_at", "completed_at"],
    "raw_contacts": ["contact_id", "ticket_id", "account_id", "caller_phone", "channel",
                     "reason_code", "started_at", "agent_id", "talk_seconds",
                     "hold_seconds", "wrap_seconds", "resolution_status"],
    "raw_portal_users": ["portal_user_id", "account_id", "email", "registered_at"],
    "raw_portal_events": ["event_id", "portal_user_id", "event_at", "channel", "event_type"],
    "raw_delivery_preferences": ["account_id", "delivery_method", "effective_date"],
    "raw_surveys": ["survey_id", "account_id", "trigger_type", "trigger_id", "sent_at",
                    "responded_at", "score"],
}

KEYS: dict[str, tuple[str, ...]] = {name: (cols[0],) for name, cols in FILES.items()}
KEYS["raw_meter_installs"] = ("meter_id", "installed_date")  # a meter may be reinstalled elsewhere
KEYS["raw_ami_daily_reads"] = ("meter_id", "read_date")
KEYS["raw_delivery_preferences"] = ("account_id", "effective_date")

OPTIONAL: dict[str, set[str]] = {name: set() for name in FILES}
for _f, _c in [
    ("raw_customers", "email"), ("raw_customers", "phone"), ("raw_customers", "birth_date"),
    ("raw_accounts", "closed_date"), ("raw_meter_installs", "removed_date"),
    ("raw_bills", "corrects_bill_id"), ("raw_billing_exceptions", "bill_id"),
    ("raw_billing_exceptions", "resolved_at"), ("raw_service_orders", "completed_at"),
    ("raw_contacts", "ticket_id"), ("raw_contacts", "account_id"),
    ("raw_contacts", "caller_phone"), ("raw_contacts", "agent_id"),
    ("raw_contacts", "talk_seconds"), ("raw_contacts", "hold_seconds"),
    ("raw_contacts", "wrap_seconds"), ("raw_surveys", "responded_at"),
    ("raw_surveys", "score"), ("raw_customers", "survey_opt_out"),
]:
    OPTIONAL[_f].add(_c)

# columns added to the contract later (meta may_be_absent): written, but never
# the target of a planted unparseable value, so that a seed plants the same
# defects as before the column existed
LATER_COLUMNS: dict[str, tuple[str, ...]] = {"raw_customers": ("survey_opt_out",)}

# column -> type; columns not listed are text
TYPES: dict[str, dict[str, str]] = {
    "raw_customers": {"birth_date": "date", "survey_opt_out": "boolean"},
    "raw_accounts": {"opened_date": "date", "closed_date": "date"},
    "raw_meter_installs": {"installed_date": "date", "removed_date": "date"},
    "raw_ami_daily_reads": {"read_date": "date", "kwh": "decimal"},
    "raw_billing_runs": {"run_date": "date"},
    "raw_bills": {"bill_date": "date", "service_period_start": "date",
                  "service_period_end": "date", "billed_kwh": "decimal",
                  "amount_due": "decimal", "is_estimated": "boolean"},
    "raw_billing_exceptions": {"raised_at": "timestamp", "resolved_at": "timestamp"},
    "raw_payments": {"paid_at": "timestamp", "amount": "decimal"},
    "raw_service_orders": {"created_at": "timestamp", "completed_at": "timestamp"},
    "raw_contacts": {"started_at": "timestamp", "talk_seconds": "integer",
                     "hold_seconds": "integer", "wrap_seconds": "integer"},
    "raw_portal_users": {"registered_at": "timestamp"},
    "raw_portal_events": {"event_at": "timestamp"},
    "raw_delivery_preferences": {"effective_date": "date"},
    "raw_surveys": {"sent_at": "timestamp", "responded_at": "timestamp", "score": "integer"},
}

ACCOUNT_CLASSES = ("residential", "commercial", "industrial")
READ_QUALITY = ("actual", "estimated")
PAYMENT_CHANNELS = ("autopay", "portal", "mobile_app", "ivr", "phone_agent", "mail", "walk_in")
ORDER_TYPES = ("start_service", "stop_service", "transfer_service", "meter_exchange",
               "reconnect", "investigation")
ORDER_STATUSES = ("open", "completed", "cancelled")
CONTACT_CHANNELS = ("phone", "chat", "email", "walk_in", "ivr")
REASON_CODES = ("billing_inquiry", "high_bill", "payment_arrangement", "start_stop_move",
                "outage", "meter_issue", "other")
RESOLUTIONS = ("resolved", "unresolved", "transferred", "abandoned")
PORTAL_CHANNELS = ("web", "mobile_app")
EVENT_TYPES = ("login", "view_bill", "view_usage", "make_payment", "enroll_autopay",
               "enroll_paperless", "start_stop_move", "update_contact_info", "report_outage")
DELIVERY_METHODS = ("paper", "ebill", "paper_and_ebill")
TRIGGER_TYPES = ("bill", "payment", "service_order", "contact")

DOMAINS: dict[str, dict[str, tuple[str, ...]]] = {
    "raw_accounts": {"account_class": ACCOUNT_CLASSES},
    "raw_ami_daily_reads": {"read_quality": READ_QUALITY},
    "raw_payments": {"payment_channel": PAYMENT_CHANNELS},
    "raw_service_orders": {"order_type": ORDER_TYPES, "status": ORDER_STATUSES},
    "raw_contacts": {"channel": CONTACT_CHANNELS, "reason_code": REASON_CODES,
                     "resolution_status": RESOLUTIONS},
    "raw_portal_events": {"channel": PORTAL_CHANNELS, "event_type": EVENT_TYPES},
    "raw_delivery_preferences": {"delivery_method": DELIVERY_METHODS},
    "raw_surveys": {"trigger_type": TRIGGER_TYPES},
}

# numbers that must not be negative: kWh read or billed, amounts paid, seconds
NON_NEGATIVE: dict[str, tuple[str, ...]] = {
    "raw_ami_daily_reads": ("kwh",),
    "raw_bills": ("billed_kwh",),
    "raw_payments": ("amount",),
    "raw_contacts": ("talk_seconds", "hold_seconds", "wrap_seconds"),
}

DAY = 86400


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent, reproducible random stream per component."""
    return np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, zlib.crc32(name.encode())])


# --------------------------------------------------------------------------
# Vectorised text formatting
# --------------------------------------------------------------------------
def _digits_into(buf: np.ndarray, col0: int, width: int, values: np.ndarray) -> None:
    x = values.astype(np.int64, copy=True)
    for k in range(width - 1, -1, -1):
        buf[:, col0 + k] = 48 + (x % 10)
        x //= 10


def _to_object(buf: np.ndarray) -> np.ndarray:
    n, width = buf.shape
    if n == 0:
        return np.empty(0, dtype=object)
    s = np.ascontiguousarray(buf).view(f"S{width}").ravel()
    return s.astype(f"U{width}").astype(object)


def fmt_ids(prefix: str, numbers, width: int) -> np.ndarray:
    """'A' + zero padded number, e.g. fmt_ids('A', [7], 6) -> ['A000007']."""
    numbers = np.asarray(numbers, dtype=np.int64)
    p = prefix.encode()
    buf = np.empty((len(numbers), len(p) + width), dtype=np.uint8)
    buf[:, : len(p)] = np.frombuffer(p, dtype=np.uint8)
    _digits_into(buf, len(p), width, numbers)
    return _to_object(buf)


def id_width(count: int, minimum: int) -> int:
    return max(minimum, len(str(max(int(count), 1))))


_TOD: np.ndarray | None = None


def _tod_bytes() -> np.ndarray:
    global _TOD
    if _TOD is None:
        s = np.arange(DAY, dtype=np.int64)
        buf = np.empty((DAY, 9), dtype=np.uint8)
        buf[:, 0] = 32
        _digits_into(buf, 1, 2, s // 3600)
        buf[:, 3] = 58
        _digits_into(buf, 4, 2, (s // 60) % 60)
        buf[:, 6] = 58
        _digits_into(buf, 7, 2, s % 60)
        _TOD = buf
    return _TOD


class Fmt:
    """Formats day ordinals (date.toordinal()) and seconds (ordinal*86400 + s)."""

    def __init__(self, first: dt.date, last: dt.date):
        self.base = first.toordinal()
        n = last.toordinal() - self.base + 1
        days = [dt.date.fromordinal(self.base + i).isoformat() for i in range(n)]
        self.date_bytes = np.frombuffer("".join(days).encode(), dtype=np.uint8).reshape(n, 10)
        self.date_text = np.array(days, dtype=object)

    def date(self, ords, empty=None) -> np.ndarray:
        ords = np.asarray(ords, dtype=np.int64)
        if empty is not None and np.any(empty):
            ords = np.where(empty, self.base, ords)
            out = self.date_text[ords - self.base]
            out[empty] = ""
            return out
        return self.date_text[ords - self.base]

    def ts(self, secs, empty=None) -> np.ndarray:
        secs = np.asarray(secs, dtype=np.int64)
        if empty is not None and np.any(empty):
            secs = np.where(empty, self.base * DAY, secs)
        else:
            empty = None
        buf = np.empty((len(secs), 19), dtype=np.uint8)
        buf[:, :10] = self.date_bytes[secs // DAY - self.base]
        buf[:, 10:] = _tod_bytes()[secs % DAY]
        out = _to_object(buf)
        if empty is not None:
            out[empty] = ""
        return out


def fmt_fixed(values, decimals: int, empty=None) -> np.ndarray:
    """Non-negative numbers as plain decimals with a fixed number of decimals."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return np.empty(0, dtype=object)
    scale = 10 ** decimals
    q = np.rint(np.abs(values) * scale).astype(np.int64)
    ip = q // scale
    fp = q % scale
    nd = np.ones(n, dtype=np.int64)
    t = ip // 10
    while np.any(t > 0):
        nd += t > 0
        t //= 10
    max_nd = int(nd.max())
    width = max_nd + (decimals + 1 if decimals else 0)
    buf = np.zeros((n, width), dtype=np.uint8)
    pow10 = 10 ** np.arange(max_nd, dtype=np.int64)
    for j in range(max_nd):
        e = nd - 1 - j
        is_int = e >= 0
        d = (ip // pow10[np.clip(e, 0, None)]) % 10
        buf[:, j] = np.where(is_int, 48 + d, buf[:, j])
    if decimals:
        rows = np.arange(n)
        buf[rows, nd] = 46
        for k in range(decimals):
            buf[rows, nd + 1 + k] = 48 + (fp // 10 ** (decimals - 1 - k)) % 10
    out = np.ascontiguousarray(buf).view(f"S{width}").ravel().astype(f"U{width}").astype(object)
    if empty is not None and np.any(empty):
        out[empty] = ""
    return out


def fmt_int(values, empty=None) -> np.ndarray:
    return fmt_fixed(values, 0, empty)


def pick(rng: np.random.Generator, choices, probs, size) -> np.ndarray:
    """Indices drawn from a categorical distribution (probs normalised)."""
    p = np.asarray(probs, dtype=np.float64)
    c = np.cumsum(p / p.sum())
    c[-1] = 1.0
    return np.searchsorted(c, rng.random(size), side="right")


def pick_rows(rng: np.random.Generator, prob_matrix: np.ndarray) -> np.ndarray:
    """One categorical draw per row of an (n, k) probability matrix."""
    c = np.cumsum(prob_matrix, axis=1)
    c /= c[:, -1:]
    u = rng.random(len(prob_matrix))[:, None]
    return np.minimum((u > c).sum(axis=1), prob_matrix.shape[1] - 1)


def business_time(rng: np.random.Generator, days, start_h=8.0, end_h=17.0) -> np.ndarray:
    """Seconds for a time of day between start_h and end_h on given ordinals."""
    days = np.asarray(days, dtype=np.int64)
    sod = rng.integers(int(start_h * 3600), int(end_h * 3600), size=len(days))
    return days * DAY + sod


def weekday(ords) -> np.ndarray:
    """0=Monday .. 6=Sunday for day ordinals (ordinal 1 = 0001-01-01, a Monday)."""
    return (np.asarray(ords, dtype=np.int64) - 1) % 7
