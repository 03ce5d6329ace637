"""`make run`: the main job once, through the real Airflow DAGs, on the bundled sample data.

1. copy the sample department files into the inbox;
2. start the demo open-data portal on 127.0.0.1 (stopped at the end);
3. run citycheck_submissions, every citycheck_open_data_* DAG and citycheck_warehouse with
   dag.test() (Airflow 3, SQLite metadata in AIRFLOW_HOME);
4. print what was published and how to query it.

Asset triggers do not fire inside dag.test(), so the DAGs run one after another here; under a
scheduler the warehouse DAG runs on the asset events (docs/operations.md).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from common import progress
from common.config import PROJECT_ROOT, SAMPLE_DIR, Settings

DAGS_DIR = PROJECT_ROOT / "dags"


def load_dags(dags_dir: Path = DAGS_DIR) -> dict:
    """Parse the DAG folder the way the dag-processor does; fail on any import error."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_dir))
    if bag.import_errors:
        errors = "\n".join(f"{f}: {e}" for f, e in bag.import_errors.items())
        raise RuntimeError(f"DAG import errors:\n{errors}")
    return bag.dags


@contextmanager
def output_to(log_path: Path):
    """Send everything written to stdout/stderr (Airflow's task logs) to a file, at the
    file-descriptor level so subprocesses and C extensions are captured too."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


@contextmanager
def _env(name: str, value: str):
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


# What each DAG does, said before it runs (its task logs go to the log file).
DOING = {"citycheck_submissions": "reading each department file, writing its receipt",
         "citycheck_rounds": "opening the rounds the calendar has reached, reminding who is late",
         "citycheck_warehouse": "dbt build, validation, publication, reports and pages"}


def run_dag(dag, conf: dict | None, log_path: Path) -> str:
    started = time.monotonic()
    doing = DOING.get(dag.dag_id, "fetching open data from the demo portal")
    if sys.stdout.isatty():     # a person watching: say what is going on, then overwrite it
        print(f"  {dag.dag_id:<36} running: {doing} ...", end="\r", flush=True)
    # this DAG's output on its own first, for the task logs the Airflow UI shows
    # (make airflow-ui), then appended to the run's log file
    output = log_path.with_name(f".{log_path.stem}.{dag.dag_id}.part")
    output.unlink(missing_ok=True)
    try:
        with output_to(output):
            run = dag.test(run_conf=conf or {})
            _write_task_logs(output)
        with open(log_path, "ab") as log, open(output, "rb") as part:
            shutil.copyfileobj(part, log)
    finally:
        output.unlink(missing_ok=True)
    state = str(getattr(run, "state", run))
    progress.finish()
    print(f"  {dag.dag_id:<36} {state:<8} {time.monotonic() - started:6.1f} s  ({doing})"
          + (" " * 8 if sys.stdout.isatty() else ""), flush=True)
    return state


def _write_task_logs(output: Path) -> None:
    """The task logs the Airflow UI shows; a failure here costs the UI its logs, not the run."""
    import logging

    from citycheck.devtools.task_logs import write_task_logs

    try:
        write_task_logs(output)
    except Exception as exc:        # noqa: BLE001 - said in the run's log, the run goes on
        logging.getLogger(__name__).warning("task logs for the Airflow UI not written: %s",
                                            exc)


def stage_sample_submissions(settings: Settings, sample_dir: Path = SAMPLE_DIR) -> int:
    """Copy the sample files into the inbox as if they arrived one by one in name order (the
    inbox is taken oldest first, and a correction must arrive after what it corrects), over
    the hour before now: each is complete, so the inbox takes it at once (taking.py)."""
    settings.ensure_dirs()
    files = sorted((sample_dir / "submissions").iterdir())
    start = time.time() - 3600
    for i, f in enumerate(files):
        target = settings.inbox_dir / f.name
        shutil.copyfile(f, target)
        os.utime(target, (start + i, start + i))
    return len(files)


def load_sample_surveys(settings: Settings, sample_dir: Path = SAMPLE_DIR) -> int:
    """Load the sample resident surveys (data/sample/surveys), as the office does once a year
    with `citycheck survey FILE`; the next build estimates from them."""
    from extract.surveys import load_survey

    files = sorted((sample_dir / "surveys").glob("*.csv"))
    for f in files:
        load_survey(f, settings)
    return len(files)


def run_demo(settings: Settings, years: str = "", sample_dir: Path = SAMPLE_DIR) -> bool:
    from citycheck.devtools.demo_portal import Portal

    stage_sample_submissions(settings, sample_dir)
    load_sample_surveys(settings, sample_dir)
    log_path = settings.data_dir / "logs" / f"run-{time.strftime('%Y%m%dT%H%M%S')}.log"
    with output_to(log_path):       # Airflow logs as it parses the DAG folder
        dags = load_dags()
    order = (["citycheck_submissions"]
             + sorted(d for d in dags if d.startswith("citycheck_open_data_"))
             + ["citycheck_rounds", "citycheck_warehouse"])
    if sys.stdout.isatty():    # the tasks' progress to the terminal, their logs to the file
        progress.to_terminal(os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1))
    with Portal(data_dir=sample_dir / "portal") as url, _env("CITYCHECK_PORTAL_URL", url):
        print(f"demo open-data portal on {url}")
        print(f"running the DAGs with dag.test() (task logs: {log_path}):", flush=True)
        for dag_id in order:
            conf = {"years": years} if dag_id == "citycheck_warehouse" else {}
            if run_dag(dags[dag_id], conf, log_path) != "success":
                print(f"\n{dag_id} did not succeed: the task logs in {log_path} say why "
                      f"(validation reports: {settings.reports_dir / 'validation'})",
                      file=sys.stderr)
                return False
    print("demo open-data portal stopped")
    from citycheck.warehouse.build import generate_docs

    with output_to(log_path):
        docs = generate_docs(settings)
    print(f"data dictionary (dbt docs, open in a browser): {docs}")
    page = settings.reports_dir / "validation" / "latest.html"
    if page.exists():
        print(f"validation report (open in a browser): {page}")
    site = settings.reports_dir / "site" / "index.html"
    if site.exists():
        print(f"indicator pages (open in a browser): {site}")
    annual = sorted((settings.reports_dir / "annual").glob("*_*.html"))
    if annual:
        print(f"annual city health check reports, {len(annual)} (HTML and PDF), listed in "
              f"{settings.reports_dir / 'annual' / 'index.html'}")
    print("serve them all on 127.0.0.1: .venv/bin/citycheck serve")
    return True


def print_validation(settings: Settings) -> None:
    """The validation that let this publication through, in one line."""
    import json

    latest = settings.reports_dir / "validation" / "latest.json"
    if latest.exists():
        report = json.loads(latest.read_text(encoding="utf-8"))
        verdict = ("passed" if report["success"] else
                   f"FAILED ({len(report['failures'])} checks): nothing new was published")
        print(f"\nValidation of build {report['build_id']}: {verdict}, {report['checks']} "
              f"checks ({latest.with_suffix('.html')})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", default="", help="reporting years to validate (default all)")
    args = parser.parse_args()
    settings = Settings.from_env()
    started = time.monotonic()
    ok = run_demo(settings, args.years)
    if ok:
        from citycheck.serving.summary import (
            print_district_targets,
            print_intake,
            print_published,
            print_rounds,
        )

        print_intake(settings)
        print_published(settings)
        print_validation(settings)
        print_rounds(settings)
        print_district_targets(settings)
        print(f"\npipeline finished in {time.monotonic() - started:.1f} s. Next:\n"
              "  .venv/bin/citycheck sql                   SQL on what was published (a prompt)\n"
              "  .venv/bin/citycheck serve                 the reports and pages on 127.0.0.1\n"
              "  .venv/bin/citycheck status --missing      each round: who still owes which values\n"
              "  make portal                               the department portal (docs/portal.md)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
