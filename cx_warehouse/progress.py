"""What a run prints while it works (docs/operations.md, "What a run prints"):
each phase with its elapsed seconds, and during dbt's build one progress
line (nodes done of total, errors and warnings so far, elapsed) instead of
dbt's whole log, which goes to dbt's log file as always.

dbt is started with `--log-format json` on its standard output (its log
file keeps dbt's own text format, `--log-format-file debug`); every event
is one JSON line, so the count comes from dbt's own events, not from
reading its text. Errors are printed as dbt states them (a model's error
names the file and the database's reason); test failures and warnings are
left to the data-health summary the run prints after the build, so each
appears once.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Iterator

# dbt events that report one finished node (model, test, seed, snapshot, no-op)
FINISHED = {"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult", "LogNodeNoOpResult",
            "SkippingDetails"}
# error-level events shown otherwise: a failing test (the data-health summary
# reports it) and a node's one-line result (its RunResultError says why)
NOT_PRINTED = {"LogTestResult", "RunResultFailure", "CheckNodeTestFailure", "LogModelResult", "LogSeedResult",
               "LogSnapshotResult"}


@contextmanager
def phase(name: str, out: IO[str] | None = None) -> Iterator[dict]:
    """Print `name: <what the block reports> (<elapsed> s)` when the block
    ends; the block sets `report["text"]`. A block that raises prints
    `name: stopped (...)` and lets the exception go on."""
    out = out or sys.stdout
    report = {"text": "done"}
    started = time.perf_counter()
    try:
        yield report
    except BaseException:
        print(f"{name}: stopped ({time.perf_counter() - started:.1f} s)", file=out, flush=True)
        raise
    print(f"{name}: {report['text']} ({time.perf_counter() - started:.1f} s)", file=out, flush=True)


@dataclass
class BuildProgress:
    """Counts of a dbt build read from its JSON events, and the line showing them."""
    total: int = 0
    done: int = 0
    errors: int = 0
    warnings: int = 0
    started: float = field(default_factory=time.perf_counter)
    messages: list[str] = field(default_factory=list)

    def read(self, line: str) -> str | None:
        """Count one line of dbt's JSON output; return an error message to
        print now, if the line is one."""
        try:
            event = json.loads(line)
            info, data = event["info"], event.get("data", {})
        except (ValueError, KeyError, TypeError):
            return line.rstrip() or None  # not an event (a crash's own output): show it as it is
        name, level = info.get("name"), info.get("level")
        if name in FINISHED:
            self.done += 1
            self.total = max(self.total, int(data.get("total") or data.get("num_models") or 0), self.done)
            status = str((data.get("node_info") or {}).get("node_status") or data.get("status") or "").lower()
            if status in ("error", "fail", "runtime error") or level == "error":
                self.errors += 1
            elif status == "warn" or level == "warn":
                self.warnings += 1
        elif name == "LogStartLine" and data.get("total"):
            self.total = max(self.total, int(data["total"]))
        node = data.get("node_info") or {}
        about_a_test = node.get("resource_type") in ("test", "unit_test") or node.get("materialized") in ("test", "unit")
        if level == "error" and name not in NOT_PRINTED and not about_a_test:
            msg = (info.get("msg") or "").strip()
            if msg and msg not in self.messages:
                self.messages.append(msg)
                return msg
        return None

    def line(self) -> str:
        total = f"{self.total}" if self.total else "?"
        return (f"build: {self.done}/{total} nodes, {self.errors} error(s), {self.warnings} warning(s), "
                f"{time.perf_counter() - self.started:.0f} s")


def stream_build(call: dict, out: IO[str] | None = None, every: float = 10.0) -> int:
    """Run dbt (`call`: subprocess arguments from pipeline.dbt_invocation,
    with `--log-format json`) showing BuildProgress: in place on a terminal,
    else a line each `every` seconds (a scheduler's log). Returns dbt's exit code."""
    out = out or sys.stdout
    tty = out.isatty()
    progress = BuildProgress()
    last = 0.0
    proc = subprocess.Popen(call["args"], cwd=call["cwd"], env=call["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace")
    assert proc.stdout is not None
    for raw in proc.stdout:
        message = progress.read(raw)
        if message:
            print(("\r\033[K" if tty else "") + message, file=out, flush=True)
        now = time.perf_counter()
        if tty:
            print("\r\033[K" + progress.line(), end="", file=out, flush=True)
        elif progress.total and now - last >= every:
            print(progress.line(), file=out, flush=True)
            last = now
    rc = proc.wait()
    print(("\r\033[K" if tty else "") + progress.line(), file=out, flush=True)
    return rc
