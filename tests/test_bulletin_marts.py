"""Bulletins as data: every bulletin issued is a row of the published mart_bulletins and what it
said of each department and district a row of mart_bulletin_lines, with the figures it
printed; and a bulletin whose issue was killed before its record leaves no gap in the
numbers."""
from __future__ import annotations

import shutil
from datetime import date

import duckdb

from citycheck.serving.bulletin import choose, issue_bulletin, list_bulletins, load_rules
from citycheck.serving.report import query_rows
from tests.faults import cli, killed

CITY = "371000"
AS_OF = date(2024, 4, 15)


def _published(settings, sql, params=()):
    with duckdb.connect(str(settings.serving_path), read_only=True) as con:
        return query_rows(con, sql, list(params))


def test_issued_bulletins_are_published_marts_as_printed(built, tmp_path):
    from citycheck.warehouse.bulletins import land_bulletins
    from common.engine import engine_for

    issued = issue_bulletin(built, CITY, 2023, as_of=AS_OF, pdf=False)
    issue_bulletin(built, "370300", 2022, as_of=AS_OF, pdf=False)
    # what the bulletin was made from: the publication of the moment
    made_from = tmp_path / "made_from.duckdb"
    shutil.copyfile(built.serving_path, made_from)
    with duckdb.connect(str(made_from), read_only=True) as con:
        (publication,) = query_rows(con, "select publication_id from publication", [])
        departments = {d["department_code"]: d for d in query_rows(
            con, "select * from mart_department_assessment where city_code = ? and year = 2023",
            [CITY])}
        districts = query_rows(con, "select * from mart_district_assessment where "
                               "city_code = ? and year = 2023", [CITY])
    assert departments and districts
    assert _published(built, "select * from mart_bulletins") == []   # not built yet

    done = cli(built, "run", "--no-fetch")
    assert done.returncode == 0, done.stderr[-2000:]

    rows = _published(built, "select * from mart_bulletins order by bulletin_id")
    assert [(r["bulletin_id"], r["number"], r["issued_by"]) for r in rows] == [
        ("370300|2022|01", 1, "cli"), (f"{CITY}|2023|01", 1, "cli")]
    (weihai,) = [r for r in rows if r["city_code"] == CITY]
    assert weihai["publication_id"] == publication["publication_id"]
    assert weihai["as_of"] == AS_OF and weihai["city_name_zh"] == "威海市"
    assert built.reports_dir / weihai["page"] == issued.html_path
    chosen = choose(districts, load_rules())
    assert weihai["commended_zh"] == "、".join(d["district_name_zh"] for d in chosen["commend"])
    assert weihai["interviewed_zh"] == "、".join(
        d["district_name_zh"] for d in chosen["interview"])
    assert (weihai["departments_named"], weihai["districts_named"]) == (
        len(departments), len(districts))

    lines = _published(built, "select * from mart_bulletin_lines where bulletin_id = ?",
                       [weihai["bulletin_id"]])
    # each department as printed: its assessment in the publication the bulletin came from
    for line in (x for x in lines if x["subject_kind"] == "department"):
        d = departments[line["subject_code"]]
        assert line["subject_name_zh"] == d["department_name_zh"]
        for column in ("rank_in_city", "score", "days_late", "values_missing",
                       "values_returned", "values_corrected"):
            assert line[column] == d[column], (line["subject_code"], column)
        # still owed on the bulletin's date: days since the deadline, by hand
        assert line["days_overdue"] == (
            max(0, (AS_OF - d["due_on"]).days) if d["values_missing"] else 0)
    listed = {d["district_code"]: kind for kind, found in chosen.items() for d in found}
    by_code = {d["district_code"]: d for d in districts}
    for line in (x for x in lines if x["subject_kind"] == "district"):
        d = by_code[line["subject_code"]]
        assert line["subject_name_zh"] == d["district_name_zh"]
        for column in ("rank_in_city", "score", "index_score", "index_change",
                       "attainment_pct"):
            assert line[column] == d[column], (line["subject_code"], column)
        assert line["listed"] == listed.get(line["subject_code"])
        assert (line["listed_because_en"] is None) == (line["listed"] is None)

    # landed once: a build that finds no new bulletin lands nothing
    with engine_for(built).connect() as con:
        assert land_bulletins(con, built.reports_dir) == 0
        assert con.execute("select count(*) from raw.bulletins").fetchone() == (2,)


def test_a_bulletin_killed_before_its_record_leaves_no_gap(built):
    first = cli(built, "bulletin", "--city", CITY, "--round", "2023", "--no-pdf")
    assert first.returncode == 0, first.stderr
    # killed with its page written and its record not: it was never issued
    assert killed(cli(built, "bulletin", "--city", CITY, "--round", "2023", "--no-pdf",
                      crash_at="bulletin.before_record"))
    unfinished = built.reports_dir / "bulletins" / CITY / "2023" / "02"
    assert any(unfinished.glob("*.html")) and not (unfinished / "bulletin.json").exists()
    assert [b["number"] for b in list_bulletins(built, CITY)] == [1]   # not listed, not shown
    # the next bulletin takes its number: 第1期, 第2期, no gap
    again = cli(built, "bulletin", "--city", CITY, "--round", "2023", "--no-pdf")
    assert again.returncode == 0 and "第2期 No. 2" in again.stdout, again.stdout + again.stderr
    assert [b["number"] for b in list_bulletins(built, CITY)] == [2, 1]
    (page,) = unfinished.glob("*.html")
    assert "第2期" in page.read_text(encoding="utf-8")
