"""Airflow for real, on this machine: the scale-out stack without containers.

    make airflow-up      # python -m citycheck.operations.stack up --workers 2
    make airflow-down    # python -m citycheck.operations.stack down
    python -m citycheck.operations.stack status

Starts the same services as docker-compose.yml, as local processes against the PostgreSQL and
Redis servers already running (default 127.0.0.1:5432 and 127.0.0.1:6379):

    api-server (REST API, UI, execution API) · scheduler · dag-processor · triggerer ·
    the department portal ·
    N Celery workers (CeleryExecutor, Redis broker, PostgreSQL result backend)

Metadata goes to a PostgreSQL database of its own (created if missing, `airflow db migrate`d).
Each service logs to <home>/logs/<service>.log and leaves its pid in <home>/pids/. The API
user and password are in <home>/api_user.json (written once, mode 0600).

Settings (environment; defaults in brackets):
    CITYCHECK_STACK_HOME       AIRFLOW_HOME of the stack          [var/airflow-celery]
    CITYCHECK_AIRFLOW_DB       metadata database (SQLAlchemy URL)
                               [postgresql+psycopg2://postgres@127.0.0.1:5432/citycheck_airflow]
    CITYCHECK_CELERY_BROKER    Celery broker                       [redis://127.0.0.1:6379/0]
    CITYCHECK_AIRFLOW_PORT     api-server port                     [8080]
    CITYCHECK_PORTAL_PORT      department portal port              [8090]
and everything citycheck itself reads (CITYCHECK_DATA_DIR, CITYCHECK_ALERT_WEBHOOK_URL, ...),
which the services inherit. docs/operations.md is the full guide.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from common.config import PROJECT_ROOT
from common.processes import alive

API_USER = "citycheck"
# The department portal's own Airflow account: it only announces uploads (asset events), for
# which the simple auth manager asks the `op` role — not the administrator's password.
PORTAL_USER = "portal"
READY_TIMEOUT = 180


def user_password(home: Path, user: str) -> str:
    """`user`'s password in `home`/passwords.json, the file Airflow's simple auth manager
    reads (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE): made on first use, mode 0600,
    written whole or not at all."""
    path = home / "passwords.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    if user not in known:
        home.mkdir(parents=True, exist_ok=True)
        known[user] = secrets.token_urlsafe(16)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(known))
        tmp.chmod(0o600)
        tmp.replace(path)
    return known[user]


def portal_password_file(home: Path) -> Path:
    """The portal's Airflow password alone, in a file of its own (0600): what the portal is
    given, instead of the passwords file that holds the administrator's."""
    path = home / "portal_airflow_password"
    password = user_password(home, PORTAL_USER)
    if not path.exists() or path.read_text().strip() != password:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(password)
        tmp.chmod(0o600)
        tmp.replace(path)
    return path


class StackError(Exception):
    """The stack could not be started or stopped; the message says which part and why."""


@dataclass
class StackConfig:
    home: Path
    metadata_url: str
    broker_url: str
    port: int
    workers: int = 2

    @classmethod
    def from_env(cls, workers: int = 2) -> StackConfig:
        env = os.environ
        data = Path(env.get("CITYCHECK_DATA_DIR", PROJECT_ROOT / "var"))
        return cls(
            home=Path(env.get("CITYCHECK_STACK_HOME", data / "airflow-celery")).resolve(),
            metadata_url=env.get("CITYCHECK_AIRFLOW_DB", "postgresql+psycopg2://postgres@"
                                                          "127.0.0.1:5432/citycheck_airflow"),
            broker_url=env.get("CITYCHECK_CELERY_BROKER", "redis://127.0.0.1:6379/0"),
            port=int(env.get("CITYCHECK_AIRFLOW_PORT", "8080")),
            workers=workers,
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def result_backend(self) -> str:
        # Celery's database backend takes SQLAlchemy URLs prefixed with db+
        return "db+" + self.metadata_url

    def environment(self) -> dict[str, str]:
        """What every service of the stack runs with (docker-compose.yml sets the same)."""
        env = dict(os.environ)
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": self.result_backend,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{API_USER}:admin,{PORTAL_USER}:op",
            # the portal announces uploads as its own account (department_portal.announce)
            "CITYCHECK_AIRFLOW_USER": PORTAL_USER,
            "CITYCHECK_AIRFLOW_PASSWORD_FILE": str(self.home / "portal_airflow_password"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            # new and changed DAG files are picked up within a minute
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
            # the portal is served on loopback over plain HTTP here (set 0 behind TLS)
            "CITYCHECK_PORTAL_INSECURE_COOKIES": os.environ.get(
                "CITYCHECK_PORTAL_INSECURE_COOKIES", "1"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "GX_ANALYTICS_ENABLED": "false",
        })
        return env

    def _secret(self, name: str) -> str:
        path = self.home / name
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def api_password(self) -> str:
        """The API user's password (written on first use; the passwords file Airflow reads)."""
        return user_password(self.home, API_USER)

    def services(self) -> dict[str, list[str]]:
        airflow = str(Path(sys.executable).with_name("airflow"))
        services = {
            "api-server": [airflow, "api-server", "--port", str(self.port), "--workers", "1"],
            "scheduler": [airflow, "scheduler"],
            "dag-processor": [airflow, "dag-processor"],
            "triggerer": [airflow, "triggerer"],
        }
        for i in range(1, self.workers + 1):
            services[f"worker-{i}"] = [airflow, "celery", "worker", "--concurrency", "2",
                                       "--celery-hostname", f"citycheck-worker-{i}@%h"]
        # the department portal beside Airflow (docs/portal.md), CITYCHECK_PORTAL_PORT [8090]
        services["portal"] = [sys.executable, "-m", "citycheck.serving.portal_app", "--port",
                              os.environ.get("CITYCHECK_PORTAL_PORT", "8090")]
        return services


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def ensure_metadata_database(url: str) -> None:
    """Create the metadata database on the PostgreSQL server if it does not exist."""
    import psycopg2

    parts = urlsplit(url.replace("postgresql+psycopg2://", "postgresql://"))
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        con = psycopg2.connect(admin, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        raise StackError(f"PostgreSQL does not answer at {_redact(admin)}: {str(exc).strip()}. "
                         "Start it, or point CITYCHECK_AIRFLOW_DB at one that runs") from None
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", [name])
            if cur.fetchone() is None:
                cur.execute(f'create database "{name}"')
    finally:
        con.close()


def check_broker(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        raise StackError(f"Redis does not answer at {_redact(url)}: {exc}. Start it, or point "
                         "CITYCHECK_CELERY_BROKER at one that runs") from None


def _pid_file(cfg: StackConfig, name: str) -> Path:
    return cfg.home / "pids" / f"{name}.pid"




def running(cfg: StackConfig) -> dict[str, int]:
    out = {}
    for path in sorted((cfg.home / "pids").glob("*.pid")):
        pid = int(path.read_text())
        if alive(pid):
            out[path.stem] = pid
    return out


def _run(cmd: list[str], env: dict, log: Path) -> None:
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise StackError(f"`{' '.join(cmd[1:])}` failed (exit {proc.returncode}); see {log}")


def up(cfg: StackConfig, out=print) -> None:
    already = running(cfg)
    if already:
        raise StackError(f"the stack already runs from {cfg.home} ({', '.join(already)}); "
                         "`make airflow-down` first")
    check_broker(cfg.broker_url)
    ensure_metadata_database(cfg.metadata_url)
    for sub in ("logs", "pids"):
        (cfg.home / sub).mkdir(parents=True, exist_ok=True)
    env = cfg.environment()
    cfg.api_password()
    portal_password_file(cfg.home)
    airflow = str(Path(sys.executable).with_name("airflow"))
    out(f"migrating the metadata database {_redact(cfg.metadata_url)} ...")
    _run([airflow, "db", "migrate"], env, cfg.home / "logs" / "migrate.log")
    from common.config import WAREHOUSE_POOL, Settings
    from common.engine import engine_for

    engine = engine_for(Settings.from_env())
    _run([airflow, "pools", "set", WAREHOUSE_POOL, str(engine.writer_slots()),
          f"tasks that write the warehouse ({engine.describe()})"], env,
         cfg.home / "logs" / "pools.log")
    started = {}
    for name, cmd in cfg.services().items():
        with open(cfg.home / "logs" / f"{name}.log", "ab") as log:
            started[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        _pid_file(cfg, name).write_text(str(started[name].pid))
        out(f"started {name} (pid {started[name].pid}, log "
            f"{cfg.home / 'logs' / (name + '.log')})")
    try:
        wait_ready(cfg, started)
    except StackError:
        down(cfg, out=lambda *_: None)
        raise
    out(f"Airflow is up: {cfg.api_url} (user {API_USER}, password in "
        f"{cfg.home / 'passwords.json'}); {cfg.workers} Celery workers on "
        f"{_redact(cfg.broker_url)}")


def api_token(cfg: StackConfig) -> str:
    import requests

    r = requests.post(f"{cfg.api_url}/auth/token",
                      json={"username": API_USER, "password": cfg.api_password()}, timeout=10)
    r.raise_for_status()
    return r.json()["access_token"]


def workers_answering(cfg: StackConfig) -> list[str]:
    """Celery workers that answer a ping on the broker."""
    from celery import Celery

    app = Celery(broker=cfg.broker_url)
    try:
        replies = app.control.ping(timeout=2.0) or []
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply)


def wait_ready(cfg: StackConfig, started: dict[str, subprocess.Popen],
               timeout: float = READY_TIMEOUT) -> None:
    """Until the API answers, the scheduler, dag-processor and triggerer report healthy and
    every Celery worker answers a ping. A service that exits meanwhile fails at once."""
    import requests

    deadline = time.monotonic() + timeout
    problem = "not started"
    while time.monotonic() < deadline:
        dead = [f"{n} (exit {p.returncode}, log {cfg.home / 'logs' / (n + '.log')})"
                for n, p in started.items() if p.poll() is not None]
        if dead:
            raise StackError(f"{', '.join(dead)} stopped at start")
        try:
            health = requests.get(f"{cfg.api_url}/api/v2/monitor/health", timeout=5).json()
            unhealthy = [k for k in ("metadatabase", "scheduler", "dag_processor", "triggerer")
                         if (health.get(k) or {}).get("status") != "healthy"]
            workers = workers_answering(cfg)
            if not unhealthy and len(workers) >= cfg.workers:
                return
            problem = (f"waiting for {', '.join(unhealthy) or 'nothing'}; workers answering: "
                       f"{len(workers)} of {cfg.workers}")
        except requests.RequestException as exc:
            problem = f"api-server not answering yet ({type(exc).__name__})"
        time.sleep(2)
    raise StackError(f"the stack did not become ready in {timeout:.0f} s: {problem}")


def down(cfg: StackConfig, out=print, timeout: float = 60) -> None:
    """SIGTERM every service's process group (workers finish the task they run), then
    SIGKILL whatever is left after `timeout` seconds."""
    procs = running(cfg)
    for pid in procs.values():
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in procs.values()):
        time.sleep(0.5)
    for name, pid in procs.items():
        if alive(pid):
            out(f"{name} (pid {pid}) did not stop in {timeout:.0f} s: killed")
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _pid_file(cfg, name).unlink(missing_ok=True)
        out(f"stopped {name}")
    for path in (cfg.home / "pids").glob("*.pid"):
        path.unlink()
    if not procs:
        out(f"nothing was running from {cfg.home}")


def status(cfg: StackConfig, out=print) -> int:
    procs = running(cfg)
    for name in cfg.services():
        out(f"  {name:<14} {'running, pid ' + str(procs[name]) if name in procs else 'stopped'}")
    if procs:
        try:
            out(f"  celery workers answering: {', '.join(workers_answering(cfg)) or 'none'}")
        except Exception as exc:  # the broker may be down: say so, do not crash
            out(f"  celery workers: cannot ask the broker ({exc})")
    return 0 if len(procs) == len(cfg.services()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m citycheck.operations.stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    args = parser.parse_args(argv)
    cfg = StackConfig.from_env(workers=args.workers)
    try:
        if args.action == "up":
            up(cfg)
        elif args.action == "down":
            down(cfg)
        else:
            return status(cfg)
    except StackError as exc:
        print(f"citycheck stack {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
