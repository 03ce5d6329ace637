"""The open-data source registry (extract/sources.yml). Light on imports: DAG files read it
at parse time to generate one DAG per schedule and one task per source."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from common.config import SOURCES_FILE

KINDS = ("json_pages", "ckan", "csv", "xlsx")
PAGINATION_STYLES = ("page", "offset", "cursor")


@dataclass
class Source:
    name: str
    kind: str
    url: str
    city_code: str
    fields: dict[str, str]
    measures: dict[str, str]
    description: str = ""
    params: dict = field(default_factory=dict)
    auth: dict | None = None
    pagination: dict = field(default_factory=dict)
    records_path: str | None = None
    pages_path: str | None = None
    dataset: str | None = None
    page_size: int = 100
    max_pages: int = 100
    schedule: str = "@daily"
    encoding: str | None = None
    sheet: str | None = None                  # xlsx: the sheet to read (default the first)
    timeout: dict = field(default_factory=dict)   # {connect: s, read: s}
    retries: int | None = None
    # no successful fetch for this long: the source is overdue (citycheck/operations/freshness.py)
    stale_after_hours: int = 48

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"source {self.name}: unknown kind '{self.kind}'; one of "
                             f"{', '.join(KINDS)}")
        style = self.pagination.get("style", "page")
        if self.kind == "json_pages" and style not in PAGINATION_STYLES:
            raise ValueError(f"source {self.name}: unknown pagination style '{style}'; one of "
                             f"{', '.join(PAGINATION_STYLES)}")
        if self.auth and not ({"env", "airflow_conn"} & set(self.auth)):
            raise ValueError(f"source {self.name}: auth names where the secret is (env: "
                             "VARIABLE or airflow_conn: CONN_ID), never the secret itself")
        missing = {"district", "year"} - set(self.fields)
        if missing:
            raise ValueError(f"source {self.name}: fields must map {sorted(missing)}")

    @property
    def expected_fields(self) -> list[str]:
        return [*self.fields.values(), *self.measures]


def load_sources(path: Path = SOURCES_FILE) -> list[Source]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    sources = [Source(**entry) for entry in data.get("sources", [])]
    names = [s.name for s in sources]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"{path}: source names must be unique, repeated: {sorted(dupes)}")
    return sources


def schedule_slug(schedule: str) -> str:
    """'@daily' -> 'daily', '0 6 * * 1' -> '0_6_x_x_1': a DAG-id-safe name for a schedule."""
    return re.sub(r"[^a-z0-9]+", "_", schedule.lower().replace("*", "x")).strip("_")
