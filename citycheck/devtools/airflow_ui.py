"""`make airflow-ui`: the Airflow UI on what `make run` did — its DAG runs, task states and
task logs — from the SQLite metadata database in var/airflow. Only the api-server runs: no
scheduler, so nothing is run from here (for a running Airflow: `make airflow-up`).

    .venv/bin/python -m citycheck.devtools.airflow_ui [--port 8088]

Logs in with Airflow's simple auth manager: user `admin`, password made on first use and kept
in $AIRFLOW_HOME/passwords.json (0600); both are printed when the UI is up. Bound to 127.0.0.1.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

USER = "admin"
DEFAULT_PORT = 8088
READY_TIMEOUT_S = 120


def password(home: Path) -> str:
    """The UI user's password: made on first use, kept where Airflow reads it."""
    from citycheck.operations.stack import user_password

    return user_password(home, USER)


def environment(home: Path, port: int) -> dict[str, str]:
    return {**os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json")}


def start(home: Path, port: int, log_path: Path) -> subprocess.Popen:
    """The api-server, once it answers; its output goes to `log_path`."""
    import requests

    if not (home / "airflow.db").exists():
        raise SystemExit(f"no Airflow metadata in {home}: run `make run` first")
    # another server on the port would answer the health check for ours
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(f"port {port} on 127.0.0.1 is in use (an Airflow UI started "
                             "earlier?): stop that, or choose another port with "
                             "CITYCHECK_AIRFLOW_UI_PORT=… or --port …") from None
    password(home)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([airflow, "api-server", "--host", "127.0.0.1", "--port",
                                 str(port), "--workers", "1", "--apps", "core"],
                                env=environment(home, port), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the Airflow api-server stopped at start (exit {proc.returncode}): "
                             f"see {log_path}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health",
                            timeout=2).ok:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.5)
    stop(proc)
    raise SystemExit(f"the Airflow api-server did not answer in {READY_TIMEOUT_S} s: see "
                     f"{log_path}")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get(
        "CITYCHECK_AIRFLOW_UI_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    home = Path(os.environ.get("AIRFLOW_HOME", "var/airflow")).resolve()
    log_path = home / "logs" / "api-server-ui.log"
    proc = start(home, args.port, log_path)
    # stopped by Ctrl-C or by a SIGTERM alike: the api-server (a session of its own) goes too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Airflow UI on the runs of `make run`: http://127.0.0.1:{args.port}\n"
          f"  user {USER}, password {password(home)} (kept in {home / 'passwords.json'})\n"
          f"  task logs: open a DAG, a run, a task, then Logs. Server log: {log_path}\n"
          "  Ctrl-C stops it.", flush=True)
    try:
        while proc.poll() is None:
            time.sleep(1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if proc.poll() is None:
            stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
