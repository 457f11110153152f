#!/usr/bin/env bash
# Cross-check of tests/python/test_project_structure.py: run dbt-project-evaluator
# itself (from its public source, never committed into this project) on a
# scratch copy of this project, with the project's own exceptions seed, and
# print every finding per rule. It must report none, as the structure test does.
#
# Usage (from anywhere; needs `make setup` done and the two packages' sources):
#   git clone --branch v1.3.2 https://github.com/dbt-labs/dbt-project-evaluator /tmp/dpe
#   git clone --branch 1.4.1 https://github.com/dbt-labs/dbt-utils /tmp/dbt-utils
#   tests/evaluator/run_evaluator.sh /tmp/dpe /tmp/dbt-utils
#
#   EVALUATOR_SRC  a source folder, or a git dir (bare mirror) read at EVAL_REF
#   DBT_UTILS_SRC  the same for dbt-utils (the evaluator's only dependency)
#
# Environment (all optional):
#   WORK          scratch folder (wiped: proj, pkgs, target, logs, ev.duckdb)
#                                                      default <project>/target/evaluator
#   EVAL_REF      ref used when EVALUATOR_SRC is a git dir  default v1.3.2
#   UTILS_REF     ref used when DBT_UTILS_SRC is a git dir  default 1.4.1
#   EXTRA_VARS    JSON object merged into --vars
#   SKIP_BUILD=1  only re-print the findings of the last run (no copy, no dbt)
#
# What it changes, in the scratch copy only: packages.yml with `local:` entries;
# dbt_project.yml gets the package's DuckDB dispatch (search_order
# [dbt_project_evaluator, dbt]) and `seeds: dbt_project_evaluator:
# dbt_project_evaluator_exceptions: +enabled: false`; the package copy gets a
# local dbt_utils and loses seeds/seeds.yml (dbt-core 1.11 refuses two property
# entries for one seed name even when one seed is disabled, dbt-core#15562). It
# builds `package:dbt_project_evaluator dbt_project_evaluator_exceptions` (the
# project's seed, as the package docs say) into $WORK/ev.duckdb (~20 s).
#
# Exit status: 0 when the evaluator reports no finding, 1 when it reports some,
# 2 when setup or the dbt build failed for another reason.
set -uo pipefail

[ $# -eq 2 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
EVAL_SRC=$(cd "$1" && pwd) || exit 2
UTILS_SRC=$(cd "$2" && pwd) || exit 2
SRC_PROJECT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-$SRC_PROJECT/target/evaluator}
EVAL_REF=${EVAL_REF:-v1.3.2}
UTILS_REF=${UTILS_REF:-1.4.1}
DBT=${DBT:-$SRC_PROJECT/.venv/bin/dbt}
PY=${PY:-$SRC_PROJECT/.venv/bin/python}
RAW_DIR=${RAW_DIR:-$SRC_PROJECT/data/sample_exports}
EXTRA_VARS=${EXTRA_VARS:-'{}'}

PROJ=$WORK/proj
PKGS=$WORK/pkgs
DB=$WORK/ev.duckdb
TARGET=$WORK/target
LOGS=$WORK/logs

die() { echo "run_evaluator: $*" >&2; exit 2; }

# a git dir (bare mirror) is exported at a ref; a plain directory is copied
materialise() {  # src ref dest
    local src=$1 ref=$2 dest=$3
    rm -rf "$dest"; mkdir -p "$dest"
    if git --git-dir="$src" rev-parse --verify -q "$ref^{commit}" >/dev/null 2>&1; then
        git --git-dir="$src" archive "$ref" | tar -x -C "$dest" || die "cannot export $src@$ref"
        echo "  $(basename "$dest"): $src @ $ref = $(git --git-dir="$src" rev-parse "$ref^{commit}")"
    elif [ -f "$src/dbt_project.yml" ]; then
        cp -a "$src/." "$dest/"
        echo "  $(basename "$dest"): copied from $src"
    else
        die "$src is neither a git dir with ref $ref nor a dbt package folder"
    fi
}

export DBT_PROFILES_DIR=$PROJ DUCKDB_PATH=$DB DBT_TARGET_PATH=$TARGET DBT_LOG_PATH=$LOGS
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
# DuckDB spill folder of the profile: keep it in the scratch area
export CX_DUCKDB_TEMP_DIR=${CX_DUCKDB_TEMP_DIR:-$WORK/duckdb_tmp}
export CX_DUCKDB_MEMORY_LIMIT=${CX_DUCKDB_MEMORY_LIMIT:-4GB}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "== 1. sources"
    mkdir -p "$WORK"
    materialise "$EVAL_SRC" "$EVAL_REF" "$PKGS/dbt-project-evaluator"
    materialise "$UTILS_SRC" "$UTILS_REF" "$PKGS/dbt-utils"
    # the evaluator asks the hub for dbt_utils (unreachable): point it at the local copy
    printf 'packages:\n  - local: %s\n' "$PKGS/dbt-utils" > "$PKGS/dbt-project-evaluator/packages.yml"
    # dbt-core 1.11 refuses two property entries for the same seed name even when
    # one seed is disabled (dbt-labs/dbt-core#15562): the project documents its
    # own dbt_project_evaluator_exceptions in seeds/_seeds__models.yml, so drop
    # the package's entry for its (disabled) blank seed.
    rm -f "$PKGS/dbt-project-evaluator/seeds/seeds.yml"

    echo "== 2. scratch copy of $SRC_PROJECT -> $PROJ"
    rm -rf "$PROJ" "$TARGET" "$LOGS" "$DB" "$DB.wal" "$WORK/duckdb_tmp"
    mkdir -p "$PROJ" "$WORK/duckdb_tmp"
    ( cd "$SRC_PROJECT" && tar -c \
        --exclude=./.venv --exclude=./target --exclude=./.ci --exclude=./logs --exclude=./warehouse \
        --exclude=./.git --exclude=./dbt_packages --exclude=./.pytest_cache \
        --exclude='*.duckdb' --exclude='*.duckdb.wal' --exclude=__pycache__ . ) \
        | tar -x -C "$PROJ" || die "copy failed"

    printf 'packages:\n  - local: %s\n  - local: %s\n' \
        "$PKGS/dbt-project-evaluator" "$PKGS/dbt-utils" > "$PROJ/packages.yml"

    # package docs: dispatch for DuckDB (cross_db_shim), and the package's own
    # blank exceptions seed disabled so that ref() resolves to the project's seed
    "$PY" - "$PROJ/dbt_project.yml" <<'EOF' || die "cannot patch dbt_project.yml"
import sys, yaml
path = sys.argv[1]
cfg = yaml.safe_load(open(path))
cfg.setdefault("dispatch", []).append(
    {"macro_namespace": "dbt", "search_order": ["dbt_project_evaluator", "dbt"]})
cfg.setdefault("seeds", {}).setdefault("dbt_project_evaluator", {}) \
   .setdefault("dbt_project_evaluator_exceptions", {})["+enabled"] = False
yaml.safe_dump(cfg, open(path, "w"), sort_keys=False, width=1000)
EOF

    echo "== 3. dbt deps"
    ( cd "$PROJ" && "$DBT" deps --no-use-colors ) > "$WORK/deps.log" 2>&1 \
        || { tail -30 "$WORK/deps.log"; die "dbt deps failed (log: $WORK/deps.log)"; }

    VARS=$("$PY" -c 'import json,sys; v={"raw_dir": sys.argv[1]}; v.update(json.loads(sys.argv[2])); print(json.dumps(v))' \
        "$RAW_DIR" "$EXTRA_VARS") || die "EXTRA_VARS is not a JSON object"
    echo "== 4. dbt build (vars: $VARS)"
    ( cd "$PROJ" && "$DBT" build --no-use-colors \
        --select package:dbt_project_evaluator dbt_project_evaluator_exceptions \
        --vars "$VARS" ) > "$WORK/build.log" 2>&1
    BUILD_RC=$?
    grep -E "Done\. PASS=|Completed with|^.*(ERROR|WARN|FAIL) [0-9]+ " "$WORK/build.log" | tail -40
    echo "  dbt build exit code $BUILD_RC (full log: $WORK/build.log)"
fi

echo "== 5. findings"
if [ ! -f "$TARGET/run_results.json" ]; then
    tail -30 "$WORK/build.log"; die "dbt produced no run_results.json (parse error?): see $WORK/build.log"
fi
"$PY" - "$TARGET" "$DB" <<'EOF'
import json, sys, duckdb
target, db = sys.argv[1], sys.argv[2]
rr = json.load(open(f"{target}/run_results.json"))
man = json.load(open(f"{target}/manifest.json"))
errors = [r for r in rr["results"] if r["status"] in ("error", "runtime error", "skipped")]
for r in errors:
    print(f"!! {r['status']}: {r['unique_id']}: {(r.get('message') or '')[:300]}")
bad = [r for r in rr["results"] if r["unique_id"].startswith("test.") and r["status"] in ("fail", "warn")]
con = duckdb.connect(db, read_only=True)
total = 0
summary = []
for r in sorted(bad, key=lambda r: r["unique_id"]):
    node = man["nodes"][r["unique_id"]]
    model_id = node.get("attached_node") or next(iter(node["depends_on"]["nodes"]), None)
    model = man["nodes"][model_id]
    rel = model["relation_name"]
    test = (node.get("test_metadata") or {}).get("name")
    if test == "is_empty":
        rows = con.execute(f"select * from {rel}").fetchall()
        cols = [d[0] for d in con.description]
        total += len(rows)
        summary.append((model["name"], len(rows), r["status"]))
        print(f"\n### {model['name']}  ({len(rows)} rows, test {r['status']})")
        print("  " + " | ".join(cols))
        for row in rows:
            print("  " + " | ".join("" if v is None else str(v) for v in row))
    else:  # coverage thresholds and other non-row rules
        summary.append((f"{model['name']} [{node['name']}]", r.get("failures"), r["status"]))
        print(f"\n### {model['name']}: test {node['name']} {r['status']} ({r.get('failures')} failing rows)")
        for row in con.execute(f"select * from {rel}").fetchall():
            print("  ", row)
print("\n== summary")
for name, n, status in summary:
    print(f"  {name:60s} {str(n):>5s}  {status}")
print(f"  {'TOTAL findings (is_empty rules)':60s} {total:>5d}")
sys.exit(2 if errors else (1 if bad else 0))
EOF
RC=$?

echo
echo "== 6. exceptions seed vs the rules' rows before exceptions (STALE = the row matches nothing)"
"$PY" - "$TARGET" "$DB" "$PROJ/seeds/dbt_project_evaluator_exceptions.csv" <<'EOF'
"""For every evaluator rule that the exceptions seed touches: the rule's rows
before the exceptions filter, which exception rows matched, and which are stale
(match nothing: wrong column, wrong name, or the rule no longer fires)."""
import csv, glob, json, os, re, sys, duckdb
target, db, seed = sys.argv[1], sys.argv[2], sys.argv[3]
man = json.load(open(f"{target}/manifest.json"))
con = duckdb.connect(db, read_only=True)
rows = list(csv.DictReader(open(seed, newline="")))
def like(v, pat):
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pat)
    return v is not None and re.fullmatch(rx, str(v), re.S) is not None
by_rule = {}
for r in rows:
    by_rule.setdefault(r["fct_name"], []).append(r)
stale = 0
for rule, excs in sorted(by_rule.items()):
    path = glob.glob(f"{target}/compiled/dbt_project_evaluator/models/**/{rule}.sql", recursive=True)
    if not path:
        print(f"\n### {rule}: NO SUCH RULE in the package ({len(excs)} exception rows are dead)")
        stale += len(excs); continue
    sql = open(path[0]).read()
    cut = sql.rfind("where 1 = 1")
    raw_sql = sql[:cut] if cut >= 0 else sql
    res = con.execute(raw_sql).fetchall()
    cols = [d[0] for d in con.description]
    print(f"\n### {rule}: {len(res)} rows before exceptions; columns {cols}")
    for row in res:
        d = dict(zip(cols, row))
        hit = [e for e in excs if e["column_name"] in d and like(d[e["column_name"]], e["id_to_exclude"])]
        print(("  EXCEPTED  " if hit else "  FINDING   ") + " | ".join("" if v is None else str(v) for v in row))
    for e in excs:
        if e["column_name"] not in cols:
            print(f"  STALE: ({e['column_name']} = {e['id_to_exclude']}): column {e['column_name']!r} does not exist in {rule}")
            stale += 1
        elif not any(like(dict(zip(cols, row))[e["column_name"]], e["id_to_exclude"]) for row in res):
            print(f"  STALE: ({e['column_name']} = {e['id_to_exclude']}) matches no row of {rule}")
            stale += 1
print(f"\nexception rows: {len(rows)}, stale: {stale}")
EOF
exit $RC
