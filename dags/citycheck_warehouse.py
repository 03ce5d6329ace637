"""The warehouse: build with dbt, validate with Great Expectations, publish.

    check_freshness -> dbt_build -> validate -> publish  (all in the warehouse pool: one slot
    for DuckDB; one run at a time, whatever the engine)
                                                    -> reports  (annual reports and indicator
                                                                 pages; reads the publication only)

check_freshness alerts (CITYCHECK_ALERT_WEBHOOK_URL) when a department or an open-data source
is overdue, and never stops the build: old data is still worth publishing.

Runs when new raw data lands (asset events from the submissions and open-data DAGs), when a
round opens or closes or a held value is reviewed (the rounds DAG, the portal), by hand, and
once a year after the submission deadline (1 April, 06:00 Beijing time): the annual review of
the reporting year just due. Every run publishes every valid year: a round still collecting
is published as provisional, with its completeness; what is still owed is reported by
validation, never a reason to publish nothing (docs/validation.md). The reporting years
under review are the `years` parameter if given; else, for the annual and backfill runs, the
year before the logical date (the run of 2024-04-01 reviews 2023); else (asset-triggered and
manual runs have no logical date) every loaded year. A failed check (an invalid value, not a
missing one) fails the run and publishes nothing; the previous publication stays as it was.

Re-running a past year is idempotent: every build starts from the append-only raw schema, so
the same raw data gives the same publication, with no duplicates:

    airflow backfill create --dag-id citycheck_warehouse --from-date 2020-01-01 --to-date 2023-12-31
    citycheck run --year 2021          # the same without Airflow
"""
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from citycheck.operations.orchestration import (
    ANNUAL_REVIEW_CRON,
    DEFAULT_ARGS,
    PUBLISHED_MARTS,
    RAW_OPEN_DATA,
    RAW_ROUNDS,
    RAW_SUBMISSIONS,
    START_DATE,
    TIMEZONE,
    WAREHOUSE_POOL,
)


@dag(
    dag_id="citycheck_warehouse",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(ANNUAL_REVIEW_CRON, timezone=TIMEZONE),
        assets=(RAW_SUBMISSIONS | RAW_OPEN_DATA | RAW_ROUNDS)),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"years": Param("", type="string",
                           description="Reporting years to validate: 2023, 2019-2023 or "
                                       "2020,2021; empty for every loaded year")},
    tags=["citycheck", "dbt", "great-expectations"],
    doc_md=__doc__,
)
def citycheck_warehouse():
    @task(pool=WAREHOUSE_POOL)
    def check_freshness() -> dict:
        from citycheck.operations.freshness import check_freshness as run_check
        from common.config import Settings

        report = run_check(Settings.from_env())
        for line in report.lines():
            print(line)
        return report.to_dict()

    @task(pool=WAREHOUSE_POOL)
    def dbt_build(freshness: dict) -> dict:
        from citycheck.warehouse.build import build
        from common.config import Settings

        result = build(Settings.from_env())
        return {"build_id": result.build_id, "nodes": result.nodes}

    @task(pool=WAREHOUSE_POOL)
    def validate(built: dict, params=None, logical_date=None, dag_run=None) -> dict:
        import logging

        from citycheck.checks.validate import ValidationFailed
        from citycheck.checks.validate import validate as run_validation
        from citycheck.operations.orchestration import years_to_validate
        from common.config import Settings

        try:
            report = run_validation(Settings.from_env(),
                                    years=years_to_validate(params.get("years"), logical_date,
                                                            getattr(dag_run, "run_type", None)))
        except ValidationFailed as exc:
            # each failed check in one line, before Airflow's traceback
            for line in str(exc).splitlines():
                logging.getLogger("citycheck.validate").error(line)
            raise
        # the page people read, in the task log (a failure's message names it too)
        print(f"validation report: {report.html_path} ({report.checks} checks passed)")
        return {"build_id": report.build_id, "checks": report.checks,
                "partitions_kept": len(report.reused), "report": report.report_path,
                "report_html": report.html_path}

    @task(pool=WAREHOUSE_POOL, outlets=[PUBLISHED_MARTS])
    def publish(validated: dict) -> dict:
        from citycheck.publication.publish_postgres import publish_everywhere
        from common.config import Settings

        result, _ = publish_everywhere(Settings.from_env())
        return {"publication_id": result.publication_id, "tables": result.tables,
                "serving_path": str(result.serving_path)}

    @task
    def reports(published: dict) -> list[str]:
        """The annual report of every city and year whose published data changed, and the
        indicator pages."""
        from citycheck.serving.report import write_reports
        from citycheck.serving.site import write_site
        from common.config import Settings

        settings = Settings.from_env()
        site = write_site(settings)
        print(f"indicator pages ({site.pages} indicators; {len(site.written)} pages written, "
              f"{len(site.removed)} removed, the rest unchanged): {site.index_path}")
        written = write_reports(settings)
        for r in written:
            print(f"report: {r.html_path}" + (f" (PDF: {r.pdf_path})" if r.pdf_path else
                                               f" ({r.pdf_note})"))
        return [str(r.html_path) for r in written]

    reports(publish(validate(dbt_build(check_freshness()))))


citycheck_warehouse()
