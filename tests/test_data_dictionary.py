"""Every published column is described (dbt YAML descriptions are the analysts' dictionary)."""
import json

import duckdb

from citycheck.publication.publish import parquet_location, published_marts


def test_every_published_column_has_a_description(built):
    manifest = json.loads((built.data_dir / "dbt" / "target" / "manifest.json").read_text())
    described = {
        node["name"]: {c: v["description"].strip() for c, v in node["columns"].items()}
        for node in manifest["nodes"].values() if node["resource_type"] == "model"
    }
    con = duckdb.connect(str(built.serving_path), read_only=True)   # what BI tools see
    try:
        tables = published_marts(built)
        assert len(tables) >= 10
        missing = []
        for table in tables:
            columns = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = "
                "'main' and table_name = ?", [table]).fetchall()]
            assert columns, table
            missing += [f"{table}.{c}" for c in columns if not described.get(table, {}).get(c)]
    finally:
        con.close()
    assert not missing, f"published columns without a description: {missing}"


def test_every_published_mart_has_an_enforced_contract(built):
    manifest = json.loads((built.data_dir / "dbt" / "target" / "manifest.json").read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    tables = published_marts(built)
    for table in tables:
        node = models[table]
        assert node["config"]["contract"]["enforced"], table
        assert all(c.get("data_type") for c in node["columns"].values()), table
    exposed = {dep.split(".")[-1] for e in manifest["exposures"].values()
               if e["name"] == "serving_duckdb" for dep in e["depends_on"]["nodes"]}
    assert exposed == set(tables)  # every published table is declared as exposed


def _yaml_columns() -> dict[str, dict[str, dict]]:
    import yaml

    from common.config import Settings

    out = {}
    folder = Settings.from_env().dbt_project_dir / "models"
    for path in sorted(folder.rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models") or []:
            out[model["name"]] = {c["name"]: c for c in model.get("columns") or []}
    return out


def test_no_description_is_cut_at_a_comma():
    """An unquoted comma inside `{name: …, description: …}` ends the description and turns
    the rest into a key of its own: every column entry holds only keys dbt knows."""
    known = {"name", "description", "data_type", "data_tests", "tests", "meta", "constraints",
             "quote", "config"}
    stray = {f"{model}.{name}": sorted(set(c) - known)
             for model, columns in _yaml_columns().items() for name, c in columns.items()
             if set(c) - known}
    assert not stray, f"descriptions cut short (quote them): {stray}"


def test_bi_tools_read_the_descriptions_in_the_serving_file_and_parquet(built):
    """The YAML descriptions reach every output a BI tool opens: table and column comments in
    the serving DuckDB file, key-value metadata in each Parquet file."""
    described = _yaml_columns()
    con = duckdb.connect(str(built.serving_path), read_only=True)
    try:
        for table in published_marts(built):
            (about,) = con.execute("select comment from duckdb_tables() where schema_name = "
                                   "'main' and table_name = ?", [table]).fetchone()
            assert about, f"{table} has no comment"
            columns = dict(con.execute(
                "select column_name, comment from duckdb_columns() where schema_name = 'main' "
                "and table_name = ?", [table]).fetchall())
            expected = {c: " ".join(described[table][c]["description"].split())
                        for c in columns}
            assert {c: " ".join((v or "").split()) for c, v in columns.items()} == expected
            parquet = parquet_location(built.published_dir / "parquet", table)
            meta = dict(con.execute(
                f"select decode(key), decode(value) from parquet_kv_metadata('{parquet}')"
            ).fetchall())
            assert meta["description"] == about
            assert json.loads(meta["column_descriptions"]) == {
                c: v for c, v in columns.items() if v}
    finally:
        con.close()


def test_a_bi_tool_reflects_tables_columns_types_and_comments_with_the_locked_versions(built):
    """What Superset's database inspector asks of the serving file through duckdb-engine
    (opened read-only): table names, each column with its type and description, the table's
    description. With SQLAlchemy 2.1 listing columns failed (pg_collation)."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"duckdb:///{built.serving_path}",
                              connect_args={"read_only": True})
    try:
        inspector = sa.inspect(engine)
        assert set(published_marts(built)) <= set(inspector.get_table_names())
        described = _yaml_columns()["fct_indicator_values"]
        columns = {c["name"]: c for c in inspector.get_columns("fct_indicator_values")}
        assert set(columns) == set(described)
        assert isinstance(columns["value"]["type"], sa.Float)
        assert isinstance(columns["year"]["type"], sa.Integer)
        assert all(" ".join((c["comment"] or "").split()) ==
                   " ".join(described[name]["description"].split())
                   for name, c in columns.items())
        assert inspector.get_table_comment("fct_indicator_values")["text"]
    finally:
        engine.dispose()


# code_type in dim_code_label -> the published columns holding such codes
CODED = {"progress_class": [("mart_target_progress", "progress_class")],
         "attainment": [("mart_target_progress", "attainment")],
         "quality_flag": [("fct_indicator_values", "quality_flag")],
         "direction": [("dim_indicator", "direction")],
         "indicator_type": [("dim_indicator", "indicator_type")],
         "aggregation": [("dim_indicator", "aggregation")],
         "value_basis": [("mart_indicator_scorecard", "value_basis")],
         "survey_item": [("mart_survey_estimates", "item")],
         "submission_status": [("mart_submission_status", "submission_status")],
         "unit_level": [("dim_district", "unit_level")],
         "source_type": [("dim_source", "source_type")],
         "plausibility_rule": [("mart_plausibility_warnings", "rule")],
         "review_state": [("fct_indicator_values", "review_state"),
                          ("mart_review_queue", "review_state")],
         "round_state": [("mart_rounds", "round_state")],
         "value_state": [("mart_round_values", "value_state")],
         "problem_kind": [("mart_problems", "problem_kind")],
         "problem_status": [("mart_problems", "status"), ("mart_problem_updates", "status")],
         "bulletin_list": [("mart_bulletin_lines", "listed")],
         "bulletin_subject": [("mart_bulletin_lines", "subject_kind")]}


def test_every_code_users_see_has_a_chinese_and_an_english_label(built):
    con = duckdb.connect(str(built.serving_path), read_only=True)
    try:
        labels = {(t, c): (zh, en) for t, c, zh, en in con.execute(
            "select code_type, code, label_zh, label_en from dim_code_label").fetchall()}
        unlabelled = []
        for code_type, places in CODED.items():
            for table, column in places:
                for (code,) in con.execute(f"select distinct {column} from {table} "
                                           f"where {column} is not null").fetchall():
                    if (code_type, code) not in labels:
                        unlabelled.append(f"{table}.{column} = {code!r}")
        assert not unlabelled, f"codes without a label in dim_code_label: {unlabelled}"
        assert all(zh and en and zh != en for zh, en in labels.values())
        assert labels[("progress_class", "needs_acceleration")] == ("需加快", "Needs acceleration")
    finally:
        con.close()


def test_every_published_table_and_column_is_described_in_chinese_and_english(built):
    """The dictionary is bilingual throughout: each mart's and each column's description holds
    Chinese and English words; dbt's docs site opens on the warehouse's own overview."""
    import re

    import yaml

    from common.config import Settings

    chinese, english = re.compile(r"[\u4e00-\u9fff]"), re.compile(r"[A-Za-z]{3,}")
    half = []
    for path in sorted((Settings.from_env().dbt_project_dir / "models" / "marts").glob("*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            texts = [(model["name"], model.get("description", ""))]
            texts += [(f"{model['name']}.{c['name']}", c.get("description", ""))
                      for c in model.get("columns") or []]
            half += [name for name, text in texts
                     if not (chinese.search(text) and english.search(text))]
    assert not half, f"{len(half)} descriptions are not bilingual: {half[:10]}"

    manifest = json.loads((built.data_dir / "dbt" / "target" / "manifest.json").read_text())
    overview = manifest["docs"]["doc.citycheck.__overview__"]["block_contents"]
    assert "从哪里开始 Where to start" in overview and "mart_indicator_scorecard" in overview
