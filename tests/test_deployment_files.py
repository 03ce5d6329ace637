"""No Docker engine runs here: check docker-compose.yml and the Dockerfile against the project."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
AIRFLOW_SERVICES = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                    "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                    "airflow-worker-1": "celery worker", "airflow-worker-2": "celery worker"}


def test_scale_out_services_are_all_there():
    services = COMPOSE["services"]
    assert {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES} <= set(services)
    for name, command in AIRFLOW_SERVICES.items():
        assert f"airflow {command}" in services[name]["command"], name
        assert services[name]["build"] == "."  # this project's image
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_init_creates_the_writer_pool_the_dags_use_sized_by_the_engine():
    from common.config import WAREHOUSE_POOL

    # the slots come from the engine the deployment configures (1 for DuckDB, N for
    # PostgreSQL): `citycheck pool-slots`, the one place that decides it
    command = COMPOSE["services"]["airflow-init"]["command"]
    assert f"pools set {WAREHOUSE_POOL} $$(citycheck pool-slots)" in command   # $$: a $ for bash


def test_mounted_paths_exist_and_env_names_are_the_projects():
    env = COMPOSE["services"]["airflow-scheduler"]["environment"]
    for volume in COMPOSE["services"]["airflow-scheduler"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).is_dir(), volume
    code = "\n".join(p.read_text() for folder in ("citycheck", "common", "extract")
                     for p in (ROOT / folder).rglob("*.py"))
    code += (ROOT / "extract" / "sources.yml").read_text()
    for name in env:
        if name.startswith("CITYCHECK_"):
            assert name in code, f"{name} is set in docker-compose.yml but nothing reads it"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/citycheck/dags"


def test_dockerfile_installs_from_the_lock_and_copies_what_runs():
    text = (ROOT / "Dockerfile").read_text()
    assert "uv pip sync --no-cache --compile-bytecode requirements.lock" in text
    copied = set(re.findall(r"^COPY (\S+)", text, flags=re.M))
    for needed in ["citycheck", "extract", "dags", "dbt_project", "expectations"]:
        assert needed in copied and (ROOT / needed).exists(), needed


def _stack_config(tmp_path):
    from citycheck.operations.stack import StackConfig

    return StackConfig(home=tmp_path, metadata_url="postgresql+psycopg2://airflow@postgres/airflow",
                       broker_url="redis://redis:6379/0", port=8080, workers=2)


def test_compose_runs_the_same_services_as_make_airflow_up(tmp_path):
    """`docker compose up` elsewhere and `make airflow-up` here: same services, same commands."""
    services = COMPOSE["services"]
    compose_name = {"api-server": "airflow-apiserver", "portal": "department-portal"}
    for name, cmd in _stack_config(tmp_path).services().items():
        service = services[compose_name.get(name, f"airflow-{name}")]
        if name == "portal":        # the same module and port, listening beyond loopback
            assert service["command"] == " ".join(["python", *cmd[1:], "--host", "0.0.0.0"])
            continue
        assert service["command"] == " ".join(["airflow", *cmd[1:]]), name


def test_compose_sets_every_airflow_setting_the_stack_sets(tmp_path):
    stack_env = _stack_config(tmp_path).environment()
    compose_env = COMPOSE["services"]["airflow-scheduler"]["environment"]
    airflow_keys = {k for k in stack_env if k.startswith("AIRFLOW__")}
    assert airflow_keys <= set(compose_env), airflow_keys - set(compose_env)
    for key in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "AIRFLOW__CORE__LOAD_EXAMPLES"):
        assert str(compose_env[key]) == stack_env[key], key
    # the result backend is the metadata database, in Celery's db+ form, in both
    assert compose_env["AIRFLOW__CELERY__RESULT_BACKEND"] == (
        "db+" + compose_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])


def test_compose_has_no_default_secret_and_the_portal_writes_no_code():
    text = (ROOT / "docker-compose.yml").read_text()
    # a password left unset stops `docker compose up` with the variable's name
    assert ":-airflow}" not in text and "${POSTGRES_PASSWORD:?" in text
    assert "${AIRFLOW_JWT_SECRET:?" in text
    portal = COMPOSE["services"]["department-portal"]
    mounts = {v.split(":")[1]: v for v in portal["volumes"]}
    assert mounts["/opt/citycheck/dbt_project"].endswith(":ro")
    assert all(v.endswith(":ro") for target, v in mounts.items() if target != "/opt/citycheck/var")


def test_the_portal_is_given_its_own_airflow_account_not_the_administrators():
    portal = COMPOSE["services"]["department-portal"]
    env = portal["environment"]
    assert portal["secrets"] == ["portal_airflow_password"]
    assert env["CITYCHECK_AIRFLOW_USER"] == "portal"
    assert not any(k in env for k in ("AIRFLOW__API_AUTH__JWT_SECRET",
                                      "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                                      "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"))
    users = COMPOSE["services"]["airflow-apiserver"]["environment"][
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    assert "portal:op" in users.split(",")
