"""Project conventions a reviewer checks: every model, documented column and macro
described, sources only read in staging, no staging-on-staging, enforced
contracts on every published mart, no personal data in marts, and
dbt-project-evaluator's rules as the package computes them (a primary-key
test on every model among them)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from cx_warehouse.contract import PROJECT_DIR, load_contract
from cx_warehouse.pipeline import dbt_env, dbt_executable

from _builds import given_sample
from _evaluator_rules import apply_exceptions, evaluator_rows

# the columns the CIS contract flags as personal data (meta personal_data in _cis__sources.yml)
PERSONAL = {c.name for e in load_contract() for c in e.columns if c.personal}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    # `make test`'s own build of this code: its manifest is this project's parse; otherwise parse here
    # (not conftest.sample_build: `make check` runs this module without building the sample)
    given = given_sample()
    if given and (Path(given["target"]) / "manifest.json").is_file():
        return json.loads((Path(given["target"]) / "manifest.json").read_text())
    tmp = tmp_path_factory.mktemp("parse")
    proc = subprocess.run([dbt_executable(), "parse", "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")],
                          cwd=PROJECT_DIR, env=dbt_env(tmp / "parse.duckdb"), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return json.loads((tmp / "target" / "manifest.json").read_text())


def models(manifest):
    return {k: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model" and v["package_name"] == "cx_warehouse"}


def test_every_model_and_column_is_described(manifest):
    for uid, node in models(manifest).items():
        assert node["description"].strip(), f"{uid} has no description"
        assert node["columns"], f"{uid} documents no column"
        for col, meta in node["columns"].items():
            assert meta["description"].strip(), f"{uid}.{col} has no description"


def test_every_macro_is_described_with_its_arguments(manifest):
    # a macro a reader can look up: a description in the yml beside it, and every argument of its signature
    for uid, macro in manifest["macros"].items():
        if macro["package_name"] != "cx_warehouse":
            continue
        assert macro["description"].strip(), f"{uid} ({macro['original_file_path']}) has no description"
        signature = re.search(r"\{%-?\s*(?:macro|test)\s+\w+\((.*?)\)\s*-?%\}", macro["macro_sql"], re.S)
        if signature:  # a materialization has none
            assert [a["name"] for a in macro["arguments"]] == _argument_names(signature.group(1)), \
                f"{uid}: the yml's arguments differ from the signature's"


def _argument_names(signature: str) -> list[str]:
    """The argument names of a macro's signature, defaults (which may hold commas) left out."""
    names, depth, current = [], 0, ""
    for ch in signature + ",":
        depth += (ch in "([{") - (ch in ")]}")
        if ch == "," and depth == 0:
            if current.strip():
                names.append(current.split("=")[0].strip())
            current = ""
        else:
            current += ch
    return names


def test_sources_are_read_only_in_staging_and_staging_does_not_read_staging(manifest):
    for uid, node in models(manifest).items():
        path = node["original_file_path"]
        parents = node["depends_on"]["nodes"]
        if not path.startswith("models/staging/"):
            assert not [p for p in parents if p.startswith("source.")], f"{uid} reads a source outside staging"
        else:
            assert not [p for p in parents if ".stg_" in p], f"{uid}: staging model reads another staging model"


def test_published_marts_enforce_contracts_and_hold_no_personal_data(manifest):
    marts = {u: n for u, n in models(manifest).items()
             if n["original_file_path"].startswith("models/marts/")
             and n["config"]["materialized"] in ("table", "incremental")}
    assert {"fct_cx_metrics", "fct_csat_rolling_13w", "fct_bill_accuracy_by_billing_run", "dim_accounts",
            "fct_survey_triggers", "fct_survey_outcomes", "fct_ami_usage_match"} <= {n["name"] for n in marts.values()}
    for uid, node in marts.items():
        assert node["config"]["contract"]["enforced"], f"{uid} has no enforced contract"
        assert all(c.get("data_type") for c in node["columns"].values()), f"{uid} lacks data types"
        if node["config"]["materialized"] == "incremental":  # its stamp is declared, and not published
            assert "loaded_at" in node["columns"], f"{uid} does not declare loaded_at"
        assert not PERSONAL & set(node["columns"]), f"{uid} exposes personal data"


def test_the_personal_data_flags_come_from_the_contract():
    # the published-mart check above reads the flags the staging masks and the GX gate checks
    assert PERSONAL == {"full_name", "email", "phone", "birth_date", "caller_phone"}


def test_cx_metrics_contract_matches_the_spec(manifest):
    node = next(n for n in models(manifest).values() if n["name"] == "fct_cx_metrics")
    assert list(node["columns"]) == [
        "metric_name", "period_grain", "period_start", "segment_type", "segment_value", "numerator",
        "denominator", "metric_value", "prior_year_value", "yoy_change", "is_provisional"]
    rolling = next(n for n in models(manifest).values() if n["name"] == "fct_csat_rolling_13w")
    assert list(rolling["columns"]) == ["week_start", "segment_type", "segment_value", "numerator_13w", "denominator_13w", "csat_13w"]
    runs = next(n for n in models(manifest).values() if n["name"] == "fct_bill_accuracy_by_billing_run")
    assert list(runs["columns"]) == ["billing_run_id", "run_date", "bills", "accurate_bills", "exceptions", "bill_accuracy"]


# ---------------------------------------------------------------------------
# dbt-project-evaluator's rules, computed from the manifest as the package
# computes them (_evaluator_rules.py). Every finding is fixed or carries a
# reasoned exception in the project's seed (the package's format), except a
# missing primary-key test, which is always fixed; no exception may be stale.
# Cross-check with the package itself (from its public source, not committed):
#   tests/evaluator/run_evaluator.sh <dbt-project-evaluator checkout> <dbt-utils checkout>
# It must report no finding, as this test does.
# ---------------------------------------------------------------------------
def _project_vars() -> dict:
    import yaml

    return yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


def _exceptions() -> list[dict]:
    import csv

    with (PROJECT_DIR / "seeds" / "dbt_project_evaluator_exceptions.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_model_has_a_primary_key_test(manifest):
    # the project's own `unique` test replaces dbt's: the package must be told so
    pk_sets = _project_vars()["primary_key_test_macros"]
    assert ["cx_warehouse.test_unique", "dbt.test_not_null"] in pk_sets
    assert ["cx_warehouse.test_unique_combination_of_columns"] in pk_sets
    rows = evaluator_rows(manifest, _project_vars())
    assert rows.get("fct_missing_primary_key_tests", []) == []
    assert not [e for e in _exceptions() if e["fct_name"] == "fct_missing_primary_key_tests"], \
        "a missing primary-key test is fixed, never excepted"


def test_every_evaluator_finding_is_fixed_or_a_reasoned_exception(manifest):
    exceptions = _exceptions()
    assert exceptions and list(exceptions[0]) == ["fct_name", "column_name", "id_to_exclude", "comment"]
    assert all(len(e["comment"].split()) >= 8 for e in exceptions), "every exception needs a real reason"
    left, stale = apply_exceptions(evaluator_rows(manifest, _project_vars()), exceptions)
    assert left == {}, "fix these or add a reasoned exception"
    assert stale == [], "stale exceptions: they match no row of their rule"


def test_the_evaluator_rules_see_what_the_package_sees():
    """The rules on a hand-made graph: a fanout of three leaves, a rejoin
    through a single-child model, an exposure that neither counts as a child
    nor as a leaf, and the primary-key rule's unique + not_null pairing."""
    def model(name, parents=(), **extra):
        return {"resource_type": "model", "name": name, "package_name": "p", "config": {"enabled": True, **extra},
                "depends_on": {"nodes": [f"model.p.{x}" for x in parents], "macros": []}, "columns": {}}

    def test(model_name, macro, column="id"):
        return {"resource_type": "test", "package_name": "p", "config": {"enabled": True},
                "attached_node": f"model.p.{model_name}", "column_name": column,
                "depends_on": {"nodes": [f"model.p.{model_name}"], "macros": [f"macro.{macro}"]}}

    nodes = {f"model.p.{n}": model(n, ps) for n, ps in {
        "a": (), "b": ("a",), "c": ("a",), "d": ("a",), "x": ("a",), "y": ("x", "a")}.items()}
    nodes["test.p.u"] = test("a", "p.test_unique")
    nodes["test.p.n"] = test("a", "dbt.test_not_null")
    nodes["test.p.u2"] = test("b", "p.test_unique")  # no not_null: not a primary key
    exposure = {"resource_type": "exposure", "name": "e", "package_name": "p", "config": {"enabled": True},
                "depends_on": {"nodes": ["model.p.b"]}}
    manifest = {"nodes": nodes, "sources": {}, "exposures": {"exposure.p.e": exposure}}
    rows = evaluator_rows(manifest, {"primary_key_test_macros": [["p.test_unique", "dbt.test_not_null"]]})
    assert rows["fct_model_fanout"] == [{"parent": "a", "leaf_children": "b, c, d, y"}]
    assert rows["fct_rejoining_of_upstream_concepts"] == [{"parent": "a", "child": "y", "parent_and_child": "x"}]
    assert sorted(r["resource_name"] for r in rows["fct_missing_primary_key_tests"]) == ["b", "c", "d", "x", "y"]
    assert rows["fct_exposures_dependent_on_private_models"] == [{"exposure_name": "e", "parent_resource_name": "b"}]
    assert rows["fct_root_models"] == [{"child": "a"}]
    # exceptions match as SQL LIKE ('_' is any one character); one matching nothing is stale
    left, stale = apply_exceptions(rows, [{"fct_name": "fct_model_fanout", "column_name": "parent", "id_to_exclude": "_"},
                                          {"fct_name": "fct_root_models", "column_name": "child", "id_to_exclude": "b"}])
    assert "fct_model_fanout" not in left and left["fct_root_models"] == [{"child": "a"}]
    assert [e["id_to_exclude"] for e in stale] == ["b"]


def test_model_names_and_folders_follow_the_evaluator_conventions(manifest):
    import yaml

    cfg = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    prefixes = {"staging": ["stg_"], "intermediate": ["int_"], "marts": cfg["marts_prefixes"]}
    for uid, node in models(manifest).items():
        folder = node["original_file_path"].split("/")[1]
        assert folder in prefixes, f"{uid} lives outside staging/intermediate/marts"
        assert any(node["name"].startswith(p) for p in prefixes[folder]), f"{uid}: prefix does not match {folder}"
        if folder == "marts":
            assert node["config"].get("access") == "public", f"{uid} is published but not access: public"


def test_the_export_names_macro_lists_the_sources_tables():
    """cis_export_names() is the one list dbt can read while parsing
    (DECISIONLOG 98): it must name the contract's exports, in its order."""
    import re

    from cx_warehouse.contract import load_contract

    text = (PROJECT_DIR / "macros" / "staging" / "cis_export_names.sql").read_text()
    assert re.findall(r"'(raw_[a-z_]+)'", text) == [e.name for e in load_contract()]


def test_the_references_tests_are_the_contracts_references(manifest):
    """Each source column's meta.references has its two tests on the staging
    column (references_known warns per orphan, orphan_share_within errors
    above a share), and no such test exists without it (DECISIONLOG 101)."""
    expected = set()
    for src in manifest["sources"].values():
        if src["source_name"] != "cis":
            continue
        for col, meta in src["columns"].items():
            ref = (meta.get("meta") or {}).get("references")
            if ref:
                table, field = ref.split(".")
                for test in ("references_known", "orphan_share_within"):
                    expected.add((f"stg_cis__{src['name'][4:]}", col, test, f"stg_cis__{table[4:]}", field))
    found = set()
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and meta.get("name") in ("references_known", "orphan_share_within"):
            model = manifest["nodes"][node["attached_node"]]["name"]
            if model.startswith("stg_cis__"):
                to = meta["kwargs"]["to"].split("'")[1]
                found.add((model, node["column_name"], meta["name"], to, meta["kwargs"]["field"]))
    assert len(expected) == 30 and found == expected


def _shared_parse_module():
    """tests/python/_dbt_shared_parse/sitecustomize.py, loaded by path (the suite's dbt processes load it
    as their sitecustomize)."""
    import importlib.util

    path = Path(__file__).with_name("_dbt_shared_parse") / "sitecustomize.py"
    spec = importlib.util.spec_from_file_location("cx_dbt_shared_parse", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# what a build adds to its manifest's nodes when it compiles them (and where it ran)
COMPILE_FIELDS = ("created_at", "compiled", "compiled_code", "compiled_path", "build_path", "extra_ctes",
                  "extra_ctes_injected", "root_path", "index")


def _as_parsed(node):
    """A manifest entry without what compiling adds: the macros a node calls grow when it
    compiles, the nodes it depends on do not."""
    if not isinstance(node, dict):
        return node
    kept = {k: v for k, v in node.items() if k not in COMPILE_FIELDS}
    if isinstance(kept.get("depends_on"), dict):
        kept["depends_on"] = kept["depends_on"].get("nodes")
    return kept


@pytest.mark.slow
def test_the_settings_the_suite_shares_a_parse_across_do_not_change_the_parse(manifest, tmp_path):
    """The suite's dbt runs accept a saved parse made with other values of PARSE_FREE_VARS
    (DECISIONLOG 135): that is only right while no model, test, source or config reads them when
    dbt parses. Parse in full with every one of them changed (numbers halved plus one, dates and
    paths other) and compare with this code's parse, node by node: configs, references, test
    arguments, the nodes each depends on (dbt refuses at compile time a reference it did not record
    when it parsed)."""
    free = _shared_parse_module().PARSE_FREE_VARS
    defaults = _project_vars()
    assert free - {"raw_dir"} <= set(defaults), "a setting the project does not have"
    changed = {}
    for name in sorted(free):
        value = defaults.get(name)
        changed[name] = (value * 0.5 + 1 if isinstance(value, (int, float)) and not isinstance(value, bool)
                         else {"as_of_date": "2024-02-29"}.get(name, "/no/such/landing"))
    assert set(changed) >= {"raw_dir", "as_of_date", "orphan_error_share", "ami_usage_tolerance"}
    database = next(iter(models(manifest).values()))["database"]  # the catalog: the warehouse file's stem
    env = dbt_env(tmp_path / f"{database}.duckdb")
    env.pop("CX_TEST_PARSE_CACHE", None)  # dbt's own full parse, nothing shared
    proc = subprocess.run([dbt_executable(), "parse", "--no-partial-parse", "--vars", json.dumps(changed),
                           "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
                          cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    other = json.loads((tmp_path / "target" / "manifest.json").read_text())
    for section in ("nodes", "sources", "macros", "unit_tests", "exposures", "metrics", "semantic_models",
                    "saved_queries", "groups", "disabled", "parent_map", "child_map"):
        ours, theirs = manifest.get(section) or {}, other.get(section) or {}
        assert set(ours) == set(theirs), section
        differ = [k for k in ours if _as_parsed(ours[k]) != _as_parsed(theirs[k])]
        assert not differ, f"{section}: the parse depends on the settings for {differ[:5]}"
