"""The indicator pages of a publication wider than a chart library's limits: 60 cities, 600
districts, 6,000 points per indicator (Altair refuses more than 5,000 in one chart). Every
page is written, each chart draws one city's districts, and no page grows with the number of
cities."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import duckdb
import pytest

from citycheck.devtools.bench import SCALES, write_reference, write_submissions

WIDE = replace(SCALES["S"], name="wide", cities=60, districts=600, indicators=2, years=10)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    work = tmp_path_factory.mktemp("wide")
    project, data = work / "dbt_project", work / "data"
    write_reference(WIDE, project)
    write_submissions(WIDE, data / "inbox")
    env = dict(os.environ, CITYCHECK_DATA_DIR=str(data), CITYCHECK_DBT_PROJECT_DIR=str(project),
               CITYCHECK_INBOX_SETTLE_SECONDS="0")
    done = subprocess.run([sys.executable, "-m", "citycheck.cli", "run", "--no-fetch"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return env


def test_the_pages_of_a_publication_wider_than_a_chart_limit_are_all_written(wide):
    done = subprocess.run([sys.executable, "-m", "citycheck.cli", "site"], env=wide,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    data = wide["CITYCHECK_DATA_DIR"]
    served = duckdb.connect(os.path.join(data, "published", "citycheck.duckdb"), read_only=True)
    try:
        points = dict(served.execute(
            "select indicator_code, count(*) from mart_indicator_scorecard where value is not "
            "null and not is_city_total group by all").fetchall())
        cities = dict(served.execute(
            "select indicator_code, count(distinct city_code) from mart_indicator_scorecard "
            "group by all").fetchall())
    finally:
        served.close()
    assert len(points) == 2 and min(points.values()) > 5000     # over Altair's max_rows
    site = os.path.join(data, "reports", "site")
    for code, n in cities.items():
        city_pages = [p for p in os.listdir(os.path.join(site, "indicators", code))
                      if p.endswith(".html")]
        assert n == 60 and len(city_pages) == 60
        for page in city_pages:
            text = open(os.path.join(site, "indicators", code, page), encoding="utf-8").read()
            # one city's ten districts (and its own line) on its chart: 11 series at most
            assert 0 < text.count('<g class="series">') <= 11, page
            assert len(text) < 100_000, page
    assert len(os.listdir(os.path.join(site, "cities"))) == 60
