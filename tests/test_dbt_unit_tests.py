"""dbt's unit tests (dbt_project/models/marts/_marts__unit_tests.yml): the progress classes,
index normalisation, coverage and ranking on hand-made inputs. Production builds leave them
out (they test the code, which only changes with a release); the suite runs them here."""
import json

from citycheck.warehouse.build import run_dbt


def test_the_dbt_unit_tests_pass_and_production_builds_leave_them_out(built):
    # the build that made `built` ran the data tests and no unit test
    build_run = json.loads((built.data_dir / "dbt" / "target" / "run_results.json")
                           .read_text(encoding="utf-8"))
    kinds = {r["unique_id"].split(".")[0] for r in build_run["results"]}
    assert "test" in kinds and "model" in kinds and "unit_test" not in kinds
    res = run_dbt(built, ["test", "--select", "test_type:unit"])
    results = res.result.results
    assert res.success, [(r.node.unique_id, r.message) for r in results if r.status != "pass"]
    assert len(results) >= 4 and {str(r.status) for r in results} == {"pass"}
    assert all(r.node.unique_id.startswith("unit_test.") for r in results)
