"""The contract's row rules, checked once (in staging) and bounded by the
generated dbt test assert_rejected_rows_per_rule_within_tolerance.

On a private copy of the session's sample build the test is run with
different tolerances; the rules it reports failing must be exactly those
whose rejected rows, counted here by splitting each staged row's
reject_reason, exceed the tolerance: the larger of a share of the export's
staged rows and a number of rows, never a second share of them."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from cx_warehouse.contract import PROJECT_DIR, load_contract
from cx_warehouse.pipeline import dbt_env, dbt_executable

SAMPLE = PROJECT_DIR / "data" / "sample_exports"
TEST = "assert_rejected_rows_per_rule_within_tolerance"


def run_test(db: Path, target: Path, share: float, rows: int, never: float) -> str:
    proc = subprocess.run(
        [dbt_executable(), "test", "--select", TEST, "--target-path", str(target), "--log-path", str(target / "logs"),
         "--vars", json.dumps({"raw_dir": str(SAMPLE), "rejected_share_max": share,
                               "rejected_rows_tolerated": rows, "rejected_share_never": never})],
        cwd=PROJECT_DIR, env=dbt_env(db), capture_output=True, text=True, timeout=600)
    results = json.loads((target / "run_results.json").read_text())["results"]
    return next(r["status"] for r in results if r["unique_id"].startswith(f"test.cx_warehouse.{TEST}"))


def reported(db: Path) -> dict[tuple[str, str], int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {(f, r): n for f, r, n in con.execute(
            f"select source_file, rule_reason, rejected_rows from dbt_test__audit.{TEST}").fetchall()}


@pytest.fixture(scope="module")
def copy(sample_build, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("rules") / Path(sample_build["db"]).name  # same catalog name
    shutil.copyfile(sample_build["db"], db)
    return db


@pytest.fixture(scope="module")
def counted(copy) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Rows each rejection reason holds, per export (malformed records as one
    rule), and each export's staged rows."""
    counts: dict[tuple[str, str], int] = {}
    staged: dict[str, int] = {}
    with duckdb.connect(str(copy), read_only=True) as con:
        for export in load_contract():
            table = f"staging.stg_cis__{export.name[4:]}"
            staged[export.name] = con.execute(f"select count(*) from {table}").fetchone()[0]
            for reason, line in con.execute(f"select reject_reason, source_line from {table} "
                                            "where reject_reason is not null").fetchall():
                for rule in (["malformed CSV record"] if line is not None else reason.split("; ")):
                    counts[(export.name, rule)] = counts.get((export.name, rule), 0) + 1
    return counts, staged


def test_every_rule_is_counted_exactly_and_fails_above_no_tolerance(copy, counted, tmp_path):
    counts, _ = counted
    assert run_test(copy, tmp_path / "t0", 0, 0, 1) == "fail"
    assert reported(copy) == counts
    assert {r.split(":")[0] for _, r in counts} >= {"missing required value", "not a valid date", "outside domain",
                                                    "negative value", "status completed without completed_at",
                                                    "conflicting duplicate of primary key in one delivery"}


def test_the_tolerance_is_the_larger_of_a_share_and_a_few_rows_never_beyond_a_second_share(copy, counted, tmp_path):
    # on the sample's export sizes each part decides somewhere: the 0.2% share on
    # the big exports, the one row on those of 334 to 499 rows, the 0.3% cap below
    share, rows, never = 0.002, 1, 0.003
    counts, staged = counted
    def tolerated(n):
        return min(max(math.floor(share * n), rows), math.floor(never * n))
    deciding = {("share" if math.floor(share * n) >= rows else "rows") if math.floor(never * n) >= max(
        math.floor(share * n), rows) else "cap" for n in staged.values()}
    assert deciding == {"share", "rows", "cap"}
    expected = {k: v for k, v in counts.items() if v > tolerated(staged[k[0]])}
    assert expected and expected != counts  # some rules fail, others pass
    assert run_test(copy, tmp_path / "t", share, rows, never) == "fail"
    assert reported(copy) == expected


def test_the_sample_is_within_the_project_tolerance_and_stores_nothing(copy, tmp_path):
    assert run_test(copy, tmp_path / "t1", 0.05, 2, 0.5) == "pass"
    with duckdb.connect(str(copy), read_only=True) as con:  # a passing test leaves no stored table
        assert not con.execute("select 1 from duckdb_tables() where schema_name = 'dbt_test__audit' "
                               "and table_name = ?", [TEST]).fetchall()
