"""What a run prints while it builds (cx_warehouse.progress): dbt's JSON
events counted into one progress line, errors printed once, test failures
and warnings left to the data-health summary. Hand-made events in dbt's
own shape; the whole run's output is checked in test_pipeline_e2e."""
from __future__ import annotations

import io
import json
import sys

from cx_warehouse.progress import BuildProgress, phase, stream_build


def event(name: str, level: str = "info", msg: str = "", **data) -> str:
    return json.dumps({"info": {"name": name, "level": level, "msg": msg}, "data": data})


MODEL = {"resource_type": "model", "materialized": "table", "node_name": "int_tickets"}
TEST = {"resource_type": "test", "materialized": "test", "node_name": "orphan_share_within_x"}

BUILD = [
    event("MainReportVersion", msg="Running with dbt=1.11.16"),
    event("LogStartLine", index=1, total=5, node_info=MODEL),
    event("LogModelResult", status="success", index=1, total=5, node_info={**MODEL, "node_status": "success"}),
    event("LogTestResult", "warn", status="warn", index=2, num_models=5, node_info={**TEST, "node_status": "warn"}),
    event("LogTestResult", "error", status="fail", index=3, num_models=5, node_info={**TEST, "node_status": "fail"}),
    event("RunResultError", "error", msg="Got 1 result, configured to fail if != 0", node_info=TEST),
    event("LogModelResult", "error", status="error", index=4, total=5, node_info={**MODEL, "node_status": "error"}),
    event("RunResultError", "error", msg="Runtime Error in model int_tickets\n  Parser Error: near \"y\"", node_info=MODEL),
    event("RunResultError", "error", msg="Runtime Error in model int_tickets\n  Parser Error: near \"y\"", node_info=MODEL),
    event("SkippingDetails", index=5, total=5, node_info={**MODEL, "node_name": "fct_tickets"}),
]


def test_the_events_count_into_nodes_done_errors_and_warnings():
    progress = BuildProgress()
    printed = [m for m in (progress.read(line) for line in BUILD) if m]
    assert (progress.done, progress.total, progress.errors, progress.warnings) == (5, 5, 2, 1)
    # the model's error once (dbt repeats it in its summary); the failing test is the summary's
    assert printed == ['Runtime Error in model int_tickets\n  Parser Error: near "y"']
    assert progress.line().startswith("build: 5/5 nodes, 2 error(s), 1 warning(s), ")


def test_output_that_is_not_an_event_is_shown_as_it_is():
    progress = BuildProgress()
    assert progress.read("Traceback (most recent call last):\n") == "Traceback (most recent call last):"
    assert progress.read("\n") is None
    assert progress.done == 0 and progress.line().startswith("build: 0/? nodes")


def test_stream_build_prints_progress_lines_off_a_terminal_and_returns_dbts_exit_code():
    script = "import sys\n" + "".join(f"print({line!r})\n" for line in BUILD) + "sys.exit(1)\n"
    out = io.StringIO()
    rc = stream_build({"args": [sys.executable, "-c", script], "cwd": None, "env": None}, out=out, every=0)
    lines = out.getvalue().splitlines()
    assert rc == 1
    assert "Runtime Error in model int_tickets" in lines and lines.count("Runtime Error in model int_tickets") == 1
    assert "Got 1 result" not in out.getvalue() and "\r" not in out.getvalue()
    assert lines[-1].startswith("build: 5/5 nodes, 2 error(s), 1 warning(s)")


def test_a_phase_prints_what_it_did_and_its_seconds_or_that_it_stopped():
    out = io.StringIO()
    with phase("publish", out) as report:
        report["text"] = "cx.duckdb"
    try:
        with phase("gate", out):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    first, second = out.getvalue().splitlines()
    assert first.startswith("publish: cx.duckdb (") and first.endswith(" s)")
    assert second.startswith("gate: stopped (")
