"""Task logs for the runs `make run` makes, where the Airflow UI looks for them.

`dag.test()` runs every task in the calling process and writes no task log files: its output
is the process's own (`make run` sends it to var/logs/run-*.log). Left so, the Airflow UI
(`make airflow-ui`) shows those runs with empty task logs. Each task's part of that output is
marked by dag.test itself, from "[DAG TEST] starting task_id=…" (followed by "running task
<TaskInstance: … ti_id=…>") to "[DAG TEST] end task …"; `write_task_logs` cuts the output at
those marks and writes each part to the file Airflow's own log reader opens for that task
instance and try (`[logging] base_log_folder` and `log_filename_template`).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from uuid import UUID

_STARTING = "[DAG TEST] starting task_id="
_RUNNING = re.compile(r"\[DAG TEST\] running task <TaskInstance: .*? ti_id=([0-9a-f-]{36})>")
_END = "[DAG TEST] end task task_id="


def split_by_task(lines: Iterable[str]) -> dict[str, list[str]]:
    """The lines of dag.test() output that belong to each task instance (by its id)."""
    parts: dict[str, list[str]] = {}
    current: list[str] | None = None
    starting: str | None = None
    for line in lines:
        if _STARTING in line:
            starting, current = line, None
            continue
        found = _RUNNING.search(line)
        if found:
            current = parts.setdefault(found[1], [])
            if starting is not None:
                current.append(starting)
                starting = None
        if current is not None:
            current.append(line)
        if _END in line:
            current = None
    return parts


# structlog's console line: "2026-11-29T09:57:41.912942Z [info     ] event [logger] key=value"
_CONSOLE = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+Z) \[(\w+)\s*\] (.*?)(?: +\[([\w.]+)\](.*))?$")


def as_json_lines(lines: list[str]) -> str:
    """The lines as the JSON records Airflow's task logs hold, so the UI shows each with its
    time, level and logger. A line of another kind (dbt's, a traceback's) keeps the time of
    the line before it."""
    import json

    out, when = [], None
    for line in lines:
        line = line.rstrip("\n")
        found = _CONSOLE.match(line)
        if found:
            when, level, event, logger, extra = found.groups()
            record = {"timestamp": when, "level": level, "event": event.rstrip()}
            if logger:
                record["logger"] = logger
            for key, value in re.findall(r"(\w+)=(\S+)", extra or ""):
                record.setdefault(key, value)
        else:
            record = {"timestamp": when, "event": line} if when else {"event": line}
        out.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(out)


def write_task_logs(output: Path) -> list[Path]:
    """Write each task instance's part of a dag.test() output file to its Airflow log file.
    Returns the files written (a task instance the metadata database no longer knows is left
    out)."""
    from airflow.configuration import conf
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.log.log_reader import TaskLogReader
    from airflow.utils.session import create_session

    with open(output, encoding="utf-8", errors="replace") as f:
        parts = split_by_task(f)
    if not parts:
        return []
    handler = TaskLogReader().log_handler      # the reader the api-server uses for the UI
    base = Path(conf.get("logging", "base_log_folder"))
    written = []
    with create_session() as session:
        for ti_id, lines in parts.items():
            ti = session.get(TaskInstance, UUID(ti_id))
            if ti is None:
                continue
            # Airflow's own rendering of log_filename_template for this try
            path = base / handler._render_filename(ti, ti.try_number)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(as_json_lines(lines), encoding="utf-8")
            written.append(path)
    return written
