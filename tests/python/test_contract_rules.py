"""The contract's row rules, checked once (in staging) and counted by the
generated test warn_rejected_share_per_rule.

On a private copy of the session's sample build, the test is run with a zero
threshold: it must then list, for every export, exactly the rules that
rejected some row, with the counts found by splitting each staged row's
reject_reason here. With the project's threshold it passes on the sample."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from cx_warehouse.contract import PROJECT_DIR, load_contract
from cx_warehouse.pipeline import dbt_env, dbt_executable

SAMPLE = PROJECT_DIR / "data" / "sample_exports"
TEST = "warn_rejected_share_per_rule"


def run_test(db: Path, target: Path, share: float) -> str:
    proc = subprocess.run(
        [dbt_executable(), "test", "--select", TEST, "--target-path", str(target), "--log-path", str(target / "logs"),
         "--vars", json.dumps({"raw_dir": str(SAMPLE), "rejected_share_warn": share})],
        cwd=PROJECT_DIR, env=dbt_env(db), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    return next(r["status"] for r in results if r["unique_id"].startswith(f"test.cx_warehouse.{TEST}"))


@pytest.fixture(scope="module")
def copy(sample_build, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("rules") / Path(sample_build["db"]).name  # same catalog name
    shutil.copyfile(sample_build["db"], db)
    return db


def expected_counts(db: Path) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for export in load_contract():
            rows = con.execute(f"select reject_reason from staging.stg_cis__{export.name[4:]} "
                               "where reject_reason is not null").fetchall()
            for (reason,) in rows:
                for rule in reason.split("; "):
                    counts[(export.name, rule)] = counts.get((export.name, rule), 0) + 1
    return counts


def test_every_contract_rule_is_counted_exactly(copy, tmp_path):
    assert run_test(copy, tmp_path / "t0", 0) == "warn"
    with duckdb.connect(str(copy), read_only=True) as con:
        got = {(f, r): n for f, r, n in con.execute(
            f"select source_file, rule_reason, rejected_rows from dbt_test__audit.{TEST}").fetchall()}
    # the generated rules are the contract's (column and table rules): every rejection
    # reason but key conflicts and stray quotes, which no contract rule names
    expected = {k: n for k, n in expected_counts(copy).items()
                if not k[1].startswith(("conflicting duplicate", "stray quote"))}
    assert got == expected
    assert {r.split(":")[0] for _, r in got} >= {"missing required value", "not a valid date", "outside domain",
                                                 "negative value", "status completed without completed_at"}


def test_the_sample_stays_under_the_project_threshold(copy, tmp_path):
    assert run_test(copy, tmp_path / "t1", 0.05) == "pass"
    with duckdb.connect(str(copy), read_only=True) as con:  # a passing test leaves no stored table
        assert not con.execute("select 1 from duckdb_tables() where schema_name = 'dbt_test__audit' "
                               "and table_name = ?", [TEST]).fetchall()
