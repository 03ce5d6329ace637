"""Every published column is described (dbt YAML descriptions are the analysts' dictionary)."""
import json

from citycheck.publish import published_marts
from citycheck.warehouse import connect


def test_every_published_column_has_a_description(built):
    manifest = json.loads((built.data_dir / "dbt" / "target" / "manifest.json").read_text())
    described = {
        node["name"]: {c: v["description"].strip() for c, v in node["columns"].items()}
        for node in manifest["nodes"].values() if node["resource_type"] == "model"
    }
    with connect(built.warehouse_path) as con:
        tables = published_marts(built)
        assert len(tables) >= 10
        missing = []
        for table in tables:
            columns = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = "
                "'published' and table_name = ?", [table]).fetchall()]
            assert columns, table
            missing += [f"{table}.{c}" for c in columns if not described.get(table, {}).get(c)]
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
