"""The publish writes only what changed (docs/publishing.md), on a small
working state made by hand (no dbt): an unchanged mart is kept as published,
an incremental mart with a unique key gets the rows its model stamped since
the last publish (and loses the keys it retired), any other changed mart is
copied whole; and whatever was done, the published marts equal the state's
without its bookkeeping column, as a publish that copies everything gives them."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cx_warehouse.publish import LOG_SCHEMA, LOG_TABLE, publish

T1, T2, T3 = "2025-03-01 06:00:00", "2025-03-02 06:00:00", "2025-03-03 06:00:00"


def _state(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema reference; create schema staging")
        # an incremental mart keyed by (trigger_type, trigger_id), stamped by loaded_at
        con.execute(f"""create table marts.fct_survey_triggers as
            select 'payment' as trigger_type, 'T' || lpad(range::varchar, 3, '0') as trigger_id,
                   'due' as status, timestamp '{T1}' as loaded_at
            from range(100)""")
        # an incremental mart without a unique key (appended by delivery)
        con.execute(f"""create table marts.dq_load_deliveries as
            select 'raw_contacts' as source_file, '2025-03-0' || range || '.csv' as source_delivery,
                   10 as raw_rows, timestamp '{T1}' as loaded_at
            from range(1, 3)""")
        # a table rebuilt by every run
        con.execute("create table marts.fct_channel_mix as select 'csat' as metric_name, 0.8 as value")
        con.execute("create table reference.metric_targets as select 'csat' as metric_name, 0.85 as target")
        con.execute("create table staging.stg_private as select 'not published' as name")
    return path


def _manifest(path: Path) -> Path:
    path.write_text(json.dumps({"nodes": {
        "model.cx_warehouse.fct_survey_triggers": {"resource_type": "model", "name": "fct_survey_triggers",
                                                   "config": {"materialized": "incremental",
                                                              "unique_key": ["trigger_type", "trigger_id"]}},
        "model.cx_warehouse.dq_load_deliveries": {"resource_type": "model", "name": "dq_load_deliveries",
                                                  "config": {"materialized": "incremental", "unique_key": None}},
    }}))
    return path


def _execute(state: Path, *sql: str) -> None:
    with duckdb.connect(str(state)) as con:
        for s in sql:
            con.execute(s)


def _differences(state: Path, published: Path) -> dict[str, int]:
    """Rows in one and not the other (as multisets), per published object; the
    state read without loaded_at."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{state}' as s (read_only)")
        con.execute(f"attach '{published}' as p (read_only)")
        out = {}
        for schema, table in con.execute("select schema_name, table_name from duckdb_tables() "
                                         "where database_name = 's' and schema_name in ('marts', 'reference')").fetchall():
            cols = [r[0] for r in con.execute("select column_name from duckdb_columns() where database_name = 's' "
                                              "and schema_name = ? and table_name = ? and column_name <> 'loaded_at' "
                                              "order by column_index", [schema, table]).fetchall()]
            a = f"select {', '.join(cols)} from s.{schema}.{table}"
            b = f"select {', '.join(cols)} from p.{schema}.{table}"
            out[table] = con.execute(f"select (select count(*) from ({a} except all {b})) + "
                                     f"(select count(*) from ({b} except all {a}))").fetchone()[0]
        return out
    finally:
        con.close()


@pytest.fixture
def files(tmp_path):
    return {"state": _state(tmp_path / "cx.state.duckdb"), "published": tmp_path / "cx.duckdb",
            "manifest": _manifest(tmp_path / "manifest.json")}


def test_a_first_publish_copies_every_mart_and_leaves_the_bookkeeping_out(files):
    actions = publish(files["state"], files["published"], manifest=files["manifest"])
    assert actions == {"fct_survey_triggers": "copied", "dq_load_deliveries": "copied",
                       "fct_channel_mix": "copied", "metric_targets": "copied"}
    assert set(_differences(files["state"], files["published"]).values()) == {0}
    with duckdb.connect(str(files["published"]), read_only=True) as con:
        columns = {r[0] for r in con.execute("select column_name from duckdb_columns() where schema_name = 'marts'").fetchall()}
        schemas = {r[0] for r in con.execute("select distinct schema_name from duckdb_tables()").fetchall()}
        log = con.execute(f"select table_name, row_count, watermark from {LOG_SCHEMA}.{LOG_TABLE} "
                          "where table_name = 'fct_survey_triggers'").fetchall()
    assert "loaded_at" not in columns
    assert schemas == {"marts", "reference", LOG_SCHEMA}  # nothing of staging
    assert [(t, n, str(w)) for t, n, w in log] == [("fct_survey_triggers", 100, T1)]


def test_an_unchanged_state_is_kept_and_the_file_still_replaced(files):
    publish(files["state"], files["published"], manifest=files["manifest"])
    inode = files["published"].stat().st_ino
    actions = publish(files["state"], files["published"], manifest=files["manifest"])
    assert set(actions.values()) == {"kept"}
    assert files["published"].stat().st_ino != inode  # a new file renamed over the old, never written in place


def test_a_day_patches_the_keyed_mart_copies_the_changed_ones_and_keeps_the_rest(files):
    state, published = files["state"], files["published"]
    publish(state, published, manifest=files["manifest"])
    _execute(state,
             # the day: two triggers rewritten (due -> expired), one new, one retired (a delete: no stamp)
             f"update marts.fct_survey_triggers set status = 'expired', loaded_at = '{T2}' where trigger_id in ('T001', 'T002')",
             f"insert into marts.fct_survey_triggers values ('payment', 'T100', 'due', '{T2}')",
             "delete from marts.fct_survey_triggers where trigger_id = 'T050'",
             f"insert into marts.dq_load_deliveries values ('raw_contacts', '2025-03-03.csv', 12, '{T2}')",
             # same row count, another value: only the content tells
             "update marts.fct_channel_mix set value = 0.9")
    actions = publish(state, published, manifest=files["manifest"])
    assert actions == {"fct_survey_triggers": "patched", "dq_load_deliveries": "copied",
                       "fct_channel_mix": "copied", "metric_targets": "kept"}
    assert set(_differences(state, published).values()) == {0}
    with duckdb.connect(str(published), read_only=True) as con:
        log = dict(con.execute(f"select table_name, deleted_since_copy from {LOG_SCHEMA}.{LOG_TABLE}").fetchall())
    assert log["fct_survey_triggers"] == 3  # two replaced, one retired

    # a retirement alone (no row stamped since) is still seen, by the count
    _execute(state, "delete from marts.fct_survey_triggers where trigger_id = 'T051'")
    assert publish(state, published, manifest=files["manifest"])["fct_survey_triggers"] == "patched"
    assert set(_differences(state, published).values()) == {0}


def test_a_large_change_or_no_manifest_copies_the_keyed_mart_whole(files):
    state, published = files["state"], files["published"]
    publish(state, published, manifest=files["manifest"])
    # 26 of 100 rows: past the 25% after which a patched table is copied whole
    _execute(state, f"update marts.fct_survey_triggers set loaded_at = '{T2}' where trigger_id < 'T026'")
    assert publish(state, published, manifest=files["manifest"])["fct_survey_triggers"] == "copied"
    _execute(state, f"update marts.fct_survey_triggers set loaded_at = '{T3}', status = 'sent' where trigger_id = 'T090'")
    assert publish(state, published, manifest=None)["fct_survey_triggers"] == "copied"
    assert set(_differences(state, published).values()) == {0}


def test_the_published_copy_is_patched_only_while_its_deletes_stay_under_a_quarter(files):
    state, published = files["state"], files["published"]
    publish(state, published, manifest=files["manifest"])
    actions = []
    for day in range(3):  # 10 rows a day: 10, 20, then 30 replaced since the last whole copy
        stamp = f"2025-03-1{day} 06:00:00"
        _execute(state, f"update marts.fct_survey_triggers set loaded_at = '{stamp}' "
                        f"where trigger_id between 'T0{day}0' and 'T0{day}9'")
        actions.append(publish(state, published, manifest=files["manifest"])["fct_survey_triggers"])
    assert actions == ["patched", "patched", "copied"]
    assert set(_differences(state, published).values()) == {0}


def test_a_health_only_publish_keeps_the_marts_and_a_changed_column_copies_whole(files):
    state, published = files["state"], files["published"]
    _execute(state, "create table marts.dq_test_run_summary as select 'pass' as status")
    publish(state, published, manifest=files["manifest"])
    _execute(state, "update marts.fct_channel_mix set value = 0.5", "update marts.dq_test_run_summary set status = 'fail'")
    assert publish(state, published, health_only=True, manifest=files["manifest"]) == {"dq_test_run_summary": "copied"}
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("select value, (select status from marts.dq_test_run_summary) "
                           "from marts.fct_channel_mix").fetchone() == (Decimal("0.8"), "fail")
    # a mart whose columns changed (a new version of the model) is copied whole, even keyed
    _execute(state, "alter table marts.fct_survey_triggers add column channel varchar")
    actions = publish(state, published, manifest=files["manifest"])
    assert actions["fct_survey_triggers"] == "copied" and actions["fct_channel_mix"] == "copied"
    assert set(_differences(state, published).values()) == {0}


def test_a_scheduled_gate_reads_the_marts_and_rows_changed_since_the_publish(files, tmp_path):
    from cx_warehouse.gx_checks import run_checkpoint
    from cx_warehouse.publish import changed_since_publish

    state, published = files["state"], files["published"]
    assert set(changed_since_publish(state, published)) == {"fct_survey_triggers", "dq_load_deliveries",
                                                            "fct_channel_mix", "metric_targets"}  # never published
    publish(state, published, manifest=files["manifest"])
    assert changed_since_publish(state, published) == {}
    # the day: a trigger stamped since, whose status holds an e-mail address
    _execute(state, f"insert into marts.fct_survey_triggers values ('payment', 'T100', 'x@example.com', '{T2}')")
    changed = changed_since_publish(state, published)
    assert changed == {"fct_survey_triggers": f"loaded_at > timestamp '{T1}'"}
    outcome = run_checkpoint(state, None, tmp_path / "gx", suites="marts", only_marts=changed)
    assert not outcome.success
    assert {(o.table, o.check) for o in outcome.failures} == {("fct_survey_triggers", "text values")}

    # rows written before the last publish are not read again: a value changed behind the
    # stamps' back (no model does that) passes the scoped gate and fails the whole one
    _execute(state, "delete from marts.fct_survey_triggers where trigger_id = 'T100'",
             "update marts.fct_survey_triggers set status = 'y@example.com' where trigger_id = 'T007'")
    publish(state, published, manifest=files["manifest"])
    _execute(state, f"insert into marts.fct_survey_triggers values ('payment', 'T101', 'due', '{T3}')",
             "update marts.fct_channel_mix set value = 0.9")
    changed = changed_since_publish(state, published)
    assert set(changed) == {"fct_survey_triggers", "fct_channel_mix"} and changed["fct_channel_mix"] is None
    assert run_checkpoint(state, None, tmp_path / "gx", suites="marts", only_marts=changed).success
    whole = run_checkpoint(state, None, tmp_path / "gx", suites="marts")
    assert [(o.table, o.check) for o in whole.failures] == [("fct_survey_triggers", "text values")]


def test_the_key_of_an_incremental_mart_is_its_unique_key_else_its_unique_test(tmp_path):
    from cx_warehouse.publish import manifest_keys

    def model(name, materialized, unique_key=None):
        return {"unique_id": f"model.p.{name}", "resource_type": "model", "name": name,
                "config": {"materialized": materialized, "unique_key": unique_key}}

    def test(model_name, name, column=None, combination=None):
        return {"unique_id": f"test.p.{name}_{model_name}", "resource_type": "test", "name": name,
                "attached_node": f"model.p.{model_name}", "column_name": column,
                "test_metadata": {"name": name, "kwargs": {"combination": combination} if combination else {}}}

    nodes = [model("triggers", "incremental", ["trigger_type", "trigger_id"]), model("records", "incremental", "record_key"),
             model("rejected", "incremental"), test("rejected", "not_null", column="source_file"),
             test("rejected", "unique", column="rejected_row_id"),
             model("deliveries", "incremental"),
             test("deliveries", "unique_combination_of_columns", combination=["source_file", "source_delivery"]),
             model("metrics", "table"), test("metrics", "unique", column="metric_key"),
             model("log", "incremental")]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"nodes": {n["unique_id"]: n for n in nodes}}))
    assert manifest_keys(path) == {"triggers": ["trigger_type", "trigger_id"], "records": ["record_key"],
                                   "rejected": ["rejected_row_id"], "deliveries": ["source_file", "source_delivery"]}
    assert manifest_keys(tmp_path / "missing.json") == {} and manifest_keys(None) == {}
