"""The star schema's keys and the views BI tools start from, read from the marts' YAML.

A column tested `unique` and `not_null` is its mart's primary key; a `relationships` test is a
foreign key. dbt checks both on every build; PostgreSQL publications declare them
(citycheck/warehouse/pg_publication.py `declare_star`), so a BI tool reflects the joins instead of a person
defining them by hand.
"""
from __future__ import annotations

import re
from pathlib import Path

# Views over the scorecard that separate district rows from city totals: a BI sum over
# districts never double-counts the city (docs/analysts.md).
VIEWS = {
    "scorecard_districts": "select * from mart_indicator_scorecard where not is_city_total",
    "scorecard_city_totals": "select * from mart_indicator_scorecard where is_city_total",
}
VIEW_COMMENTS = {
    "scorecard_districts": "区县记分卡 The scorecard's district rows only (no city totals): sum "
                           "or average these without double counting.",
    "scorecard_city_totals": "全市记分卡 The scorecard's city rows only: each city's value "
                             "(rolled up from its districts, or reported for the city).",
}


def _tests(column: dict) -> list:
    return column.get("data_tests") or column.get("tests") or []


def star_keys(project_dir: Path) -> tuple[dict[str, str], list[tuple[str, str, str, str]]]:
    """(mart -> primary key column, [(mart, column, referenced mart, referenced column)])."""
    import yaml

    keys: dict[str, str] = {}
    foreign: list[tuple[str, str, str, str]] = []
    for path in sorted((project_dir / "models" / "marts").glob("*.yml")):
        doc = yaml.load(path.read_text(encoding="utf-8"),
                        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        for model in doc.get("models") or []:
            for column in model.get("columns") or []:
                names = {t if isinstance(t, str) else next(iter(t)) for t in _tests(column)}
                if {"unique", "not_null"} <= names:
                    keys[model["name"]] = column["name"]
                for test in _tests(column):
                    if isinstance(test, dict) and "relationships" in test:
                        spec = test["relationships"]
                        spec = spec.get("arguments", spec)
                        ref = re.fullmatch(r"ref\('([^']+)'\)", spec["to"])
                        if ref:
                            foreign.append((model["name"], column["name"], ref[1],
                                            spec["field"]))
    return keys, foreign
