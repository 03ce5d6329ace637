"""No Docker engine runs here: check docker-compose.yml and the Dockerfile against the project."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
AIRFLOW_SERVICES = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                    "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                    "airflow-worker": "celery worker"}


def test_scale_out_services_are_all_there():
    services = COMPOSE["services"]
    assert {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES} <= set(services)
    for name, command in AIRFLOW_SERVICES.items():
        assert f"airflow {command}" in services[name]["command"], name
        assert services[name]["build"] == "."  # this project's image
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_init_creates_the_writer_pool_the_dags_use():
    from citycheck.config import WAREHOUSE_POOL

    assert f"pools set {WAREHOUSE_POOL} 1" in COMPOSE["services"]["airflow-init"]["command"]


def test_mounted_paths_exist_and_env_names_are_the_projects():
    env = COMPOSE["services"]["airflow-scheduler"]["environment"]
    for volume in COMPOSE["services"]["airflow-scheduler"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).is_dir(), volume
    code = "\n".join(p.read_text() for p in (ROOT / "citycheck").glob("*.py"))
    code += (ROOT / "extract" / "sources.yml").read_text()
    for name in env:
        if name.startswith("CITYCHECK_"):
            assert name in code, f"{name} is set in docker-compose.yml but nothing reads it"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/citycheck/dags"


def test_dockerfile_installs_from_the_lock_and_copies_what_runs():
    text = (ROOT / "Dockerfile").read_text()
    assert "uv pip sync --no-cache requirements.lock" in text
    copied = set(re.findall(r"^COPY (\S+)", text, flags=re.M))
    for needed in ["citycheck", "extract", "dags", "dbt_project", "expectations"]:
        assert needed in copied and (ROOT / needed).exists(), needed
