"""Alerts for the people on call: a JSON POST to a webhook (Slack, Teams, DingTalk, WeCom and
most incident tools accept one through a small relay, or directly).

    CITYCHECK_ALERT_WEBHOOK_URL=https://hooks.example.org/citycheck

Every DAG task has `task_failure_alert` as its on-failure callback (after its last retry);
the warehouse DAG also alerts when a department or an open-data source is overdue
(citycheck/operations/freshness.py). Without the variable, alerts are only logged. Posting never raises:
an alert that cannot be delivered is logged, and the task's own failure stays what it was.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

log = logging.getLogger(__name__)
WEBHOOK_ENV = "CITYCHECK_ALERT_WEBHOOK_URL"
TIMEOUT_SECONDS = 10


def post_alert(payload: dict, url: str | None = None) -> bool:
    """POST `payload` as JSON. True if the webhook answered 2xx."""
    import requests

    url = url or os.environ.get(WEBHOOK_ENV)
    payload = {"source": "citycheck", "sent_at": datetime.now(UTC).isoformat(), **payload}
    if not url:
        # one readable line; the whole payload only at debug level (it can be kilobytes)
        log.warning("alert not sent (set %s to post it): %s", WEBHOOK_ENV,
                    payload.get("summary") or payload.get("event"))
        log.debug("alert payload: %s", json.dumps(payload, ensure_ascii=False, default=str))
        return False
    try:
        response = requests.post(url, data=json.dumps(payload, ensure_ascii=False, default=str)
                                 .encode("utf-8"),
                                 headers={"Content-Type": "application/json; charset=utf-8"},
                                 timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        # the URL may carry a token: name the error, not the address
        log.error("alert webhook unreachable (%s): %s", type(exc).__name__, payload.get("summary"))
        return False
    if not response.ok:
        log.error("alert webhook answered HTTP %s: %s", response.status_code,
                  payload.get("summary"))
        return False
    return True


def _log_file(ti) -> str | None:
    """Where the task's log is on the worker, from Airflow's own file name template."""
    try:
        import jinja2
        from airflow.configuration import conf

        base = conf.get("logging", "base_log_folder")
        template = conf.get("logging", "log_filename_template")
        name = jinja2.Template(template).render(ti=ti, try_number=ti.try_number)
        return os.path.join(base, name)
    except Exception:  # the alert matters more than the path
        return None


def reporting_years(context) -> str | None:
    """The reporting year(s) the failed run was checking, as the warehouse DAG decides them
    (citycheck.operations.schedule.years_to_validate); None for every loaded year."""
    from citycheck.operations.schedule import years_to_validate

    params = context.get("params") or {}
    dag_run = context.get("dag_run")
    try:
        years = years_to_validate(params.get("years"), context.get("logical_date"),
                                  getattr(dag_run, "run_type", None))
    except ValueError:  # a malformed parameter: report it as given
        return str(params.get("years"))
    if not years:
        return None
    if len(years) == 1:
        return str(years[0])
    contiguous = years == list(range(years[0], years[-1] + 1))
    return f"{years[0]}-{years[-1]}" if contiguous else ",".join(map(str, years))


def task_failure_alert(context) -> None:
    """on_failure_callback of every citycheck task: what failed, for which year, and where
    its log is."""
    ti = context.get("ti") or context.get("task_instance")
    exception = context.get("exception")
    dag_id = getattr(ti, "dag_id", None)
    task_id = getattr(ti, "task_id", None)
    payload = {
        "event": "task_failed",
        "summary": f"citycheck: {dag_id}.{task_id} failed",
        "dag_id": dag_id,
        "task_id": task_id,
        "map_index": getattr(ti, "map_index", None),
        "run_id": getattr(ti, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "year": reporting_years(context),
        "error": f"{type(exception).__name__}: {exception}"[:2000] if exception else None,
        "log_url": getattr(ti, "log_url", None),
        "log_file": _log_file(ti) if ti is not None else None,
    }
    post_alert(payload)
