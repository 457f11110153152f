"""dbt-project-evaluator's rules (v1.3.2, the eight this project's graph can
trip), computed from a dbt manifest with the package's own inputs and
semantics, so that test_project_structure.py checks them offline and reports
what the package reports (same rows, same counts, same exception matching).

The package's semantics (its models/marts/** and macros/filter_exceptions.sql):
- the DAG is every enabled node outside the package (models, seeds,
  snapshots, sources, analyses, hooks), tests excluded, with the parents of
  models and snapshots only (an analysis reading a model is no child);
  exposures and metrics are not in it (is_excluded NULL in the package), so
  fanout, rejoin, too-many-joins and root-model rules ignore them;
- resources are named, not identified: a source is source_name.table;
- an exception row removes an output row when the row's `column_name` value
  matches `id_to_exclude` as a SQL LIKE pattern (% and _ are wildcards).

The package itself, for a cross-check on the same project:
tests/evaluator/run_evaluator.sh (docs/data-quality.md, "Project structure").
"""
from __future__ import annotations

import json
import re
from collections import defaultdict

DEFAULT_PK = [["dbt.test_unique", "dbt.test_not_null"], ["dbt_utils.test_unique_combination_of_columns"]]


def _name(n):
    return f"{n['source_name']}.{n['name']}" if n["resource_type"] == "source" else n["name"]


def evaluator_rows(manifest, project_vars=None):
    v = {"models_fanout_threshold": 3, "too_many_joins_threshold": 7, "primary_key_test_macros": DEFAULT_PK,
         "enforced_primary_key_node_types": ["model"], **(project_vars or {})}
    every = {**manifest["nodes"], **manifest["sources"], **manifest.get("exposures", {})}
    res = {u: n for u, n in every.items()
           if n.get("package_name") != "dbt_project_evaluator" and n["resource_type"] != "test"
           and (n.get("config") or {}).get("enabled", True)}
    dag = {u for u, n in res.items() if n["resource_type"] not in ("exposure", "metric")}
    parents = {u: [p for p in res[u].get("depends_on", {}).get("nodes", []) if p in res] for u in res}
    # the package records parents of models and snapshots only (int_direct_relationships):
    # an analysis or a hook reading a model does not make it a parent
    dparents = {u: [p for p in parents[u] if p in dag] if res[u]["resource_type"] in ("model", "snapshot") else []
                for u in dag}
    dchildren = {u: [] for u in dag}
    for c, ps in dparents.items():
        for p in ps:
            dchildren[p].append(c)
    is_model = lambda u: res[u]["resource_type"] == "model"
    out = defaultdict(list)

    # fct_model_fanout: >= threshold direct children that are models without any child
    for p in dag:
        leaves = sorted({_name(res[c]) for c in dchildren[p] if is_model(c) and not dchildren[c]})
        if len(leaves) >= int(v["models_fanout_threshold"]):
            out["fct_model_fanout"].append({"parent": _name(res[p]), "leaf_children": ", ".join(leaves)})

    # fct_rejoining_of_upstream_concepts: parent -> parent_and_child -> child and parent -> child,
    # parent_and_child having exactly one direct child
    for p in dag:
        for x in dchildren[p]:
            if len(dchildren[x]) != 1:
                continue
            c = dchildren[x][0]
            if c in dchildren[p]:
                out["fct_rejoining_of_upstream_concepts"].append(
                    {"parent": _name(res[p]), "child": _name(res[c]), "parent_and_child": _name(res[x])})

    for u in dag:
        if not is_model(u):
            continue
        names = {_name(res[p]) for p in dparents[u]}
        if len(names) >= int(v["too_many_joins_threshold"]):
            out["fct_too_many_joins"].append({"resource_name": _name(res[u]), "join_count": len(names)})
        if not dparents[u] and res[u].get("time_spine") is None:
            out["fct_root_models"].append({"child": _name(res[u])})

    for u, n in res.items():
        if n["resource_type"] == "source":
            def counted(f):
                f = f or {}
                return any((f.get(k) or {}).get("count") not in (None, "") for k in ("warn_after", "error_after"))
            if not (counted((n.get("config") or {}).get("freshness")) or counted(n.get("freshness"))):
                out["fct_sources_without_freshness"].append({"resource_name": _name(n)})
        if n["resource_type"] == "exposure":
            for p in parents[u]:
                pn = res[p]
                if not (pn["resource_type"] == "model" and pn.get("access") == "public"):
                    out["fct_exposures_dependent_on_private_models"].append(
                        {"exposure_name": n["name"], "parent_resource_name": _name(pn)})
                if (pn["resource_type"] == "model" and pn["config"].get("materialized") in ("view", "ephemeral")) \
                        or pn["resource_type"] == "source":
                    out["fct_exposure_parents_materializations"].append(
                        {"parent_resource_name": _name(pn), "exposure_name": n["name"]})

    # fct_missing_primary_key_tests (models/marts/tests/intermediate/int_model_test_summary.sql)
    sets = v["primary_key_test_macros"]
    macro_list = [m for s in sets for m in s]
    if "test_unique" not in [m.split(".")[1] for m in macro_list]:
        macro_list.append("dbt.test_unique")
    flag_of = {}  # column is_<name part>: the first macro with that name part wins (duplicate columns)
    for m in macro_list:
        flag_of.setdefault(m.split(".")[1], m)
    groups = defaultdict(list)  # (model, column_name) -> tests
    for t in manifest["nodes"].values():
        if t["resource_type"] == "test" and t.get("attached_node") and (t.get("config") or {}).get("enabled", True):
            deps = json.dumps(t["depends_on"].get("macros", []))
            flags = {k: f"macro.{m}" in deps for k, m in flag_of.items()}  # LIKE '%macro.X%'
            groups[(t["attached_node"], t.get("column_name"))].append(flags)
    tested = set()
    for (model, col), tests in groups.items():
        cols = res.get(model, {}).get("columns", {})
        constraint = 1 if col in cols and any(c["type"] == "not_null" for c in cols[col].get("constraints", [])) else 0
        by_method = [sum(1 for f in tests if any(f[m.split(".")[1]] for m in s)) >= len(s) for s in sets]
        mixed = (sum(1 for f in tests if f["test_unique"]) + constraint) >= 2 if col in cols else False
        if any(by_method) or mixed:
            tested.add(model)
    for u in dag:
        if res[u]["resource_type"] in v["enforced_primary_key_node_types"] and u not in tested:
            out["fct_missing_primary_key_tests"].append({"resource_name": _name(res[u])})
    return out


def like(value, pattern):
    rx = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return value is not None and re.fullmatch(rx, str(value), re.S) is not None


def apply_exceptions(rows, exceptions):
    """(rows no exception removes, exception rows that remove nothing)."""
    left = {rule: [r for r in rs if not any(e["fct_name"] == rule and like(r.get(e["column_name"]), e["id_to_exclude"])
                                            for e in exceptions)] for rule, rs in rows.items()}
    stale = [e for e in exceptions
             if not any(like(r.get(e["column_name"]), e["id_to_exclude"]) for r in rows.get(e["fct_name"], []))]
    return {k: rs for k, rs in left.items() if rs}, stale
