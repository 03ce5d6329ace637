"""Reading the publication reads nothing else: through every way in that citycheck opens or
documents, SQL that reads a local file (read_text, read_csv), writes one (COPY … TO) or turns
file access back on fails, and the published data still answers. Before, the serving file
opened "read-only" as docs/bi.md said gave away /etc/passwd, the process environment (the
PostgreSQL password, the webhook URL) and the portal's session key, and wrote files."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from citycheck.serving.department_portal import portal_dir
from citycheck.serving.sql import open_publication

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _attacks(tmp: Path, secret: Path) -> list[str]:
    return [f"select * from read_text('{secret}')",
            "select * from read_csv('/etc/passwd')",
            "select * from read_text('/proc/self/environ')",
            f"copy (select 42 as x) to '{tmp / 'written.csv'}'",
            "set enable_external_access = true",
            f"attach '{tmp / 'other.duckdb'}' as other"]


def _documented_urls(serving: Path) -> list[str]:
    """Every DuckDB URL docs/bi.md gives a BI tool, pointed at this publication."""
    text = (DOCS / "bi.md").read_text(encoding="utf-8")
    urls = set(re.findall(r"duckdb:////abs/path/var/published/citycheck\.duckdb\?[^`\s\"]+",
                          text.replace('"\n      "', "")))
    assert len(urls) >= 2, urls          # the plain one and the one with the keys' plugin
    return [u.replace("/abs/path/var/published/citycheck.duckdb", str(serving)) for u in urls]


def test_no_way_in_reads_or_writes_a_file(built, tmp_path):
    secret = tmp_path / "session_secret"
    secret.write_text("s3cret-key-of-the-portal")
    attacks = _attacks(tmp_path, secret)
    portal_dir(built)       # the portal's folder exists, as on a server

    # the SQL prompt and `citycheck sql`, as an analyst runs them
    env = {**os.environ, "CITYCHECK_DATA_DIR": str(built.data_dir)}
    for statement in attacks:
        done = subprocess.run([sys.executable, "-m", "citycheck.cli", "sql", statement],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 1, (statement, done.stdout)
        assert "s3cret" not in done.stdout and "root:" not in done.stdout
        assert "Traceback" not in done.stdout + done.stderr
        assert re.search(r"error: .*(Permission Error|Cannot change configuration)",
                         done.stdout), done.stdout
    done = subprocess.run([sys.executable, "-m", "citycheck.cli", "sql",
                           "select count(*) > 0 as ok from mart_indicator_scorecard"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "true" in done.stdout

    # the connection the reports, the indicator pages and the portal read through
    con = open_publication(built)
    try:
        for statement in attacks:
            try:
                con.sql(statement)
            except Exception as exc:      # noqa: BLE001 - any refusal; checked below
                assert re.search(r"Permission Error|Cannot change configuration", str(exc))
            else:
                raise AssertionError(f"allowed: {statement}")
        assert con.execute("select count(*) from mart_indicator_scorecard").fetchone()[0] > 0
    finally:
        con.close()

    # the URLs docs/bi.md gives Superset, Metabase's DuckDB driver and notebooks
    for url in _documented_urls(built.serving_path.resolve()):
        engine = sa.create_engine(url)
        try:
            for statement in attacks:
                with engine.connect() as c:
                    try:
                        c.execute(sa.text(statement)).fetchall()
                    except sa.exc.DBAPIError as exc:
                        assert re.search(r"Permission Error|Cannot change configuration",
                                         str(exc)), str(exc)
                    else:
                        raise AssertionError(f"allowed through {url}: {statement}")
            with engine.connect() as c:
                assert c.execute(sa.text("select count(*) from mart_indicator_scorecard")
                                 ).scalar() > 0
        finally:
            engine.dispose()
    assert not (tmp_path / "written.csv").exists()
    assert not (tmp_path / "other.duckdb").exists()
