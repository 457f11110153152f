"""Every smart-meter (AMI) integrity check fires on planted bad data and stays
quiet on clean data, and the bill-vs-AMI match-rate gate fails the build.

Two hand-made export sets (tests/python/_ami_fixtures.py) are written into a
pytest tmp dir and each is built once into its own DuckDB file with the
project's dbt, selecting only the AMI models, their upstream models and the
AMI tests. The warehouses are then reused: `dbt test` re-runs the AMI tests
with different vars (error shares set to 0, the min-population guard, a
relaxed gate). Outcomes are read per test name from target/run_results.json;
stored failing rows are read from the relation dbt reports for the test
(schema dbt_test__audit: this project's generate_schema_name uses custom
schemas as-is).

Each run is one dbt invocation; the module makes six (two builds, three
`dbt test`, one partial rebuild on a copy), the clean and bad chains running
side by side.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from cx_warehouse.pipeline import dbt_invocation

from _ami_fixtures import AS_OF, PLANTED, write_exports
from _warehouse import SHARED_PARSE_NAME

# share-based integrity checks -> the var holding their error share
SHARE_CHECKS = {
    "ami_orphan_reads": "ami_orphan_read_error_share",
    "ami_vacant_premise_reads": "ami_vacant_read_error_share",
    "ami_meter_install_overlaps": "ami_meter_install_overlap_error_share",
    "ami_premise_meter_overlaps": "ami_premise_meter_overlap_error_share",
    "ami_premise_account_overlaps": "ami_premise_account_overlap_error_share",
    "ami_duplicate_reads": "ami_duplicate_read_error_share",
    "ami_negative_kwh_reads": "ami_negative_kwh_error_share",
    "ami_read_gaps": "ami_read_gap_error_share",
    "ami_non_reporting_installs": "ami_non_reporting_error_share",
    "assert_ami_estimated_read_share": "ami_estimated_read_error_share",
}
GATE = "assert_ami_usage_match_rate_above_min"
ALL_CHECKS = [*SHARE_CHECKS, GATE]
# stored failing rows per check on the bad set (one per meter / premise / pair / key / gap / month / period)
EXPECTED_FAILURES = {
    "ami_orphan_reads": 2,
    "ami_vacant_premise_reads": 1,
    "ami_meter_install_overlaps": 1,
    "ami_premise_meter_overlaps": 1,
    "ami_premise_account_overlaps": 1,
    "ami_duplicate_reads": 1,
    "ami_negative_kwh_reads": 1,
    "ami_read_gaps": 3,
    "ami_non_reporting_installs": 1,
    "assert_ami_estimated_read_share": 1,
    GATE: 2,
}

AMI_PATHS = ["path:models/intermediate/ami", "path:models/marts/ami", "path:tests/ami"]
# build: the AMI models with everything upstream, the AMI tests and the tests of
# those upstream models whose parents are all built (cautious: a relationship
# test towards a model outside the selection is not picked up)
BUILD_SELECT = ["--select", "+path:models/intermediate/ami", "+path:models/marts/ami", "path:tests/ami",
                "--exclude-resource-type", "unit_test", "--indirect-selection", "cautious"]
TEST_SELECT = ["--select", *AMI_PATHS, "--exclude-resource-type", "unit_test"]

ZERO_SHARES = {var: 0 for var in SHARE_CHECKS.values()}


class DbtRun:
    def __init__(self, args, proc, run_results, stored, elapsed):
        self.args = args
        self.elapsed = elapsed  # wall-clock seconds of the dbt invocation
        self.returncode = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.results = run_results["results"]
        self.stored = stored  # test name -> (relation_name, rows as dicts)

    def by_name(self) -> dict[str, dict]:
        out = {}
        for r in self.results:
            if r["unique_id"].startswith("test."):
                out[r["unique_id"].split(".")[2]] = r
        return out

    def status(self, name: str) -> str:
        results = self.by_name()
        assert name in results, f"{name} did not run ({' '.join(self.args)}):\n{self.output[-3000:]}"
        return results[name]["status"]

    def not_ok(self, exclude=()) -> dict[str, str]:
        """Nodes whose status is neither pass/success nor warn."""
        return {r["unique_id"]: r["status"] for r in self.results
                if r["status"] not in ("pass", "success", "warn") and r["unique_id"].split(".")[2] not in exclude}


def run_dbt(command: str, raw_dir: Path, db: Path, work: Path, extra_vars: dict | None = None,
            select: list[str] = BUILD_SELECT) -> DbtRun:
    """Run dbt into `db` (from its folder); return its run results and the stored failing rows."""
    target = work / "target"
    dbt_vars = {"raw_dir": str(raw_dir), "as_of_date": AS_OF.isoformat(), **(extra_vars or {})}
    args = [command, *select, "--vars", json.dumps(dbt_vars),
            "--target-path", str(target), "--log-path", str(work / "logs")]
    started = time.perf_counter()
    call = dbt_invocation(args, db)  # started beside `db`, named relative to it: the suite's shared parse
    proc = subprocess.run(call["args"], cwd=call["cwd"], env=call["env"], capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - started
    results_file = target / "run_results.json"
    assert results_file.exists(), f"dbt {command} wrote no run_results.json:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    run_results = json.loads(results_file.read_text())
    results_file.unlink()  # a later run must not read this one's results
    stored = {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        for r in run_results["results"]:
            name = r["unique_id"].split(".")[2]
            if name in ALL_CHECKS and r.get("relation_name"):
                if r["status"] == "pass":  # a passing test stores no table (test_materialization.sql)
                    assert not con.execute("select 1 from duckdb_tables() where schema_name = 'dbt_test__audit' "
                                           "and table_name = ?", [name]).fetchall(), name
                    stored[name] = (r["relation_name"], [])
                    continue
                cur = con.execute(f"select * from {r['relation_name']}")
                cols = [d[0] for d in cur.description]
                stored[name] = (r["relation_name"], [dict(zip(cols, row)) for row in cur.fetchall()])
    finally:
        con.close()
    return DbtRun(args, proc, run_results, stored, elapsed)


def query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _clean_chain(root: Path) -> dict:
    raw = write_exports(root / "exports", bad=False)
    db = root / SHARED_PARSE_NAME
    build = run_dbt("build", raw, db, root)
    # the strictest settings: any failing row errors, whatever the population, and the gate wants 100 %
    strict = run_dbt("test", raw, db, root, select=TEST_SELECT,
                     extra_vars={**ZERO_SHARES, "ami_error_min_population": 0, "ami_usage_match_rate_min": 1.0})
    return {"raw": raw, "db": db, "build": build, "strict": strict}


def _bad_chain(root: Path) -> dict:
    raw = write_exports(root / "exports", bad=True)
    db = root / SHARED_PARSE_NAME
    build = run_dbt("build", raw, db, root)
    usage = query(db, "select bill_id, is_fully_covered, is_matched, variance_share from intermediate.int_ami_bill_usage")
    zero = run_dbt("test", raw, db, root, select=TEST_SELECT, extra_vars=ZERO_SHARES)
    # shares 0 but a population threshold above every population: only warnings; the gate relaxed to 0.75
    guarded = run_dbt("test", raw, db, root, select=TEST_SELECT,
                      extra_vars={**ZERO_SHARES, "ami_error_min_population": 10**9, "ami_usage_match_rate_min": 0.75})
    # a wider kWh tolerance matches the 10 %-over bills: rebuild the usage models on a copy
    tolerant_db = root / "tolerant" / SHARED_PARSE_NAME
    tolerant_db.parent.mkdir()
    shutil.copyfile(db, tolerant_db)
    tolerant = run_dbt("build", raw, tolerant_db, root, extra_vars={"ami_usage_tolerance": 0.15},
                       select=["--select", "int_ami_bill_usage", "fct_ami_usage_match",
                               "--exclude-resource-type", "unit_test"])
    return {"raw": raw, "db": db, "build": build, "usage": usage, "zero": zero, "guarded": guarded,
            "tolerant": tolerant, "tolerant_db": tolerant_db}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both chains, side by side (each is sequential on its own warehouse)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        clean = pool.submit(_clean_chain, tmp_path_factory.mktemp("ami_clean"))
        bad = pool.submit(_bad_chain, tmp_path_factory.mktemp("ami_bad"))
        return {"clean": clean.result(), "bad": bad.result()}


@pytest.fixture(scope="module")
def clean(runs):
    return runs["clean"]


@pytest.fixture(scope="module")
def bad(runs):
    return runs["bad"]


# --------------------------------------------------------------------------- clean set

def test_clean_build_succeeds_and_every_ami_check_passes(clean):
    build = clean["build"]
    assert build.returncode == 0, build.output[-4000:]
    assert build.not_ok() == {}
    for name in ALL_CHECKS:
        assert build.status(name) == "pass", name
    # no other AMI test warns either
    assert {r["unique_id"] for r in build.results if r["status"] == "warn" and "ami" in r["unique_id"]} == set()


def test_clean_set_passes_even_at_zero_error_shares_and_a_100_percent_gate(clean):
    strict = clean["strict"]
    assert strict.returncode == 0, strict.output[-4000:]
    for name in ALL_CHECKS:
        assert strict.status(name) == "pass", name
    for name, (_, rows) in strict.stored.items():
        assert rows == [], name


def test_clean_set_attributes_every_read_and_matches_every_bill(clean):
    statuses = dict(query(clean["db"], "select attribution_status, count(*) from intermediate.int_ami_reads_attributed"
                                       " group by 1"))
    assert set(statuses) == {"attributed"}
    match = query(clean["db"], "select period_type, period_key, bills, fully_covered_bills, matched_bills"
                               " from marts.fct_ami_usage_match order by 1, 2")
    assert match == [("billing_run", "R1", 114, 114, 114), ("month", "2024-01-01", 114, 114, 114)]


# --------------------------------------------------------------------------- bad set, default vars

@pytest.mark.parametrize("name", list(SHARE_CHECKS))
def test_each_planted_defect_warns_with_default_vars(bad, name):
    build = bad["build"]
    assert build.status(name) == "warn"
    assert build.by_name()[name]["failures"] == EXPECTED_FAILURES[name]
    _, rows = build.stored[name]
    assert len(rows) == EXPECTED_FAILURES[name]
    if name != "assert_ami_estimated_read_share":
        # below the default share: stored, flagged as not exceeding, population above the guard
        assert {r["exceeds_max_share"] for r in rows} == {0}
        assert min(r["population_weight"] for r in rows) >= 20
    else:
        assert {r["exceeds_error_share"] for r in rows} == {0}


def test_gate_fails_the_build_with_a_non_zero_exit(bad):
    build = bad["build"]
    assert build.status(GATE) == "fail"
    assert build.by_name()[GATE]["failures"] == EXPECTED_FAILURES[GATE]
    # `make run` publishes only on exit 0, and the gate is the only reason for the non-zero exit
    assert build.returncode != 0
    assert build.not_ok() == {f"test.cx_warehouse.{GATE}": "fail"}
    _, rows = build.stored[GATE]
    assert {(r["period_type"], r["period_key"]) for r in rows} == PLANTED["gate_periods"]
    for r in rows:
        assert r["fully_covered_bills"] == 111 and r["matched_bills"] == 84
        assert r["ami_usage_match_rate"] == pytest.approx(84 / 111)


def test_bills_beyond_the_tolerance_are_the_unmatched_ones(bad):
    usage = {bill: (covered, matched, share) for bill, covered, matched, share in bad["usage"]}
    unmatched = {b for b, (covered, matched, _) in usage.items() if covered and not matched}
    assert unmatched == PLANTED["unmatched_bills"]
    for b in unmatched:
        assert usage[b][2] == pytest.approx(30 / 330)  # billed 330 vs measured 300
    assert {b for b, (covered, _, _) in usage.items() if not covered} == PLANTED["uncovered_bills"]


# --------------------------------------------------------------------------- stored failures name the planted rows

def test_stored_failures_live_in_the_audit_schema(bad):
    for name in ALL_CHECKS:
        relation, _ = bad["build"].stored[name]
        assert relation.endswith(f'."dbt_test__audit"."{name}"'), relation


def test_stored_orphan_reads_name_the_planted_meters(bad):
    _, rows = bad["build"].stored["ami_orphan_reads"]
    assert {r["meter_id"] for r in rows} == PLANTED["orphan_meters"]
    by_meter = {r["meter_id"]: r for r in rows}
    assert by_meter["M_EXCH_OLD"]["first_failing_date"].isoformat() == "2024-01-15"  # read on the removal day
    assert by_meter["M_GHOST"]["failing_rows"] == 1


def test_stored_vacant_reads_name_the_planted_premise_and_days(bad):
    _, rows = bad["build"].stored["ami_vacant_premise_reads"]
    premise, first, last = PLANTED["vacant_premise"]
    assert [(r["premise_id"], r["first_failing_date"], r["last_failing_date"], r["failing_rows"]) for r in rows] == [
        (premise, first, last, 2)]


@pytest.mark.parametrize("name, planted", [
    ("ami_meter_install_overlaps", "meter_install_overlap"),
    ("ami_premise_meter_overlaps", "premise_meter_overlap"),
    ("ami_premise_account_overlaps", "premise_account_overlap"),
])
def test_stored_overlaps_name_the_planted_pair(bad, name, planted):
    _, rows = bad["build"].stored[name]
    key, entities = PLANTED[planted]
    assert [(r["overlap_kind"], r["overlap_key"], {r["entity_a"], r["entity_b"]}) for r in rows] == [
        (planted, key, entities)]


def test_stored_duplicate_and_negative_reads_name_the_planted_reads(bad):
    _, dups = bad["build"].stored["ami_duplicate_reads"]
    assert {r["read_key"] for r in dups} == PLANTED["duplicate_read_keys"]
    assert dups[0]["failing_rows"] == 2  # both conflicting rows are rejected; the exact copy of M006 is not listed
    _, negs = bad["build"].stored["ami_negative_kwh_reads"]
    assert {r["meter_id"] for r in negs} == PLANTED["negative_kwh_meters"]
    assert [float(r["kwh"]) for r in negs] == [-3.0]


def test_stored_gaps_name_the_planted_gap_and_the_days_of_rejected_reads(bad):
    # one stored row per reporting install with gaps; the non-reporting install is not among them
    _, rows = bad["build"].stored["ami_read_gaps"]
    expected = {(m, (last - first).days + 1) for m, first, last in PLANTED["gaps"]}
    assert {(r["meter_id"], r["gap_days"]) for r in rows} == expected
    assert sum(r["gap_days"] for r in rows) == 5
    con = duckdb.connect(str(bad["db"]), read_only=True)
    try:
        gaps = con.execute("select meter_id, gap_start_date, gap_end_date from intermediate.int_ami_read_gaps "
                           "where meter_id in (select meter_id from intermediate.int_ami_install_coverage "
                           "where is_reporting)").fetchall()
    finally:
        con.close()
    assert set(gaps) == PLANTED["gaps"]


def test_non_reporting_install_warns_naming_the_meter_and_is_no_gap(bad):
    _, rows = bad["build"].stored["ami_non_reporting_installs"]
    assert {r["meter_id"] for r in rows} == PLANTED["non_reporting_meters"]
    assert all(not r["is_reporting"] and r["read_days"] == 0 for r in rows)


def test_reads_during_an_install_overlap_are_unattributed(bad):
    con = duckdb.connect(str(bad["db"]), read_only=True)
    try:
        rows = con.execute("select meter_id, attribution_status, count(*) from intermediate.int_ami_reads_attributed "
                           "where meter_id in ('M_DUP', 'M001') group by all order by 1").fetchall()
    finally:
        con.close()
    assert [(m, s) for m, s, _ in rows] == [("M001", "attributed"), ("M_DUP", "ambiguous_premise")]


def test_stored_estimated_share_names_the_planted_month(bad):
    _, rows = bad["build"].stored["assert_ami_estimated_read_share"]
    assert {r["read_month"] for r in rows} == PLANTED["estimated_months"]
    assert 0.10 < rows[0]["estimated_share"] <= 0.30


# --------------------------------------------------------------------------- thresholds from vars

@pytest.mark.parametrize("name", list(SHARE_CHECKS))
def test_each_check_fails_when_its_error_share_is_zero(bad, name):
    zero = bad["zero"]
    assert zero.status(name) == "fail"
    _, rows = zero.stored[name]
    assert len(rows) == EXPECTED_FAILURES[name]
    flag = "exceeds_error_share" if name == "assert_ami_estimated_read_share" else "exceeds_max_share"
    assert {r[flag] for r in rows} == {1}


def test_zero_error_shares_make_dbt_exit_non_zero(bad):
    zero = bad["zero"]
    assert zero.returncode != 0
    assert set(zero.not_ok()) == {r["unique_id"] for r in zero.results
                                  if r["unique_id"].split(".")[2] in ALL_CHECKS}


def test_small_population_guard_keeps_zero_shares_at_warn_and_a_relaxed_gate_passes(bad):
    guarded = bad["guarded"]
    for name in SHARE_CHECKS:
        assert guarded.status(name) == "warn", name
    assert guarded.status(GATE) == "pass"  # 84/111 = 0.757 >= 0.75
    assert guarded.returncode == 0, guarded.output[-4000:]
    assert guarded.not_ok() == {}


def test_a_wider_usage_tolerance_matches_the_overbilled_bills(bad):
    tolerant = bad["tolerant"]
    assert tolerant.status(GATE) == "pass"
    assert tolerant.returncode == 0, tolerant.output[-4000:]
    rows = query(bad["tolerant_db"], "select fully_covered_bills, matched_bills from marts.fct_ami_usage_match")
    assert set(rows) == {(111, 111)}
