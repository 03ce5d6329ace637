"""The code's shape, checked like its behaviour (docs/architecture.md): no import circles,
arrows between folders pointing one way along the data's flow, and the warehouse's engine
chosen in one place."""
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from import_cycles import imports_of, module_name  # noqa: E402

# Each folder's place in the flow: a module may import its own layer and the ones below.
LAYERS = [
    ("common", "configuration, reference data, storage, the engine interface"),
    ("extract", "intake: department files, open data"),
    ("citycheck.warehouse", "the engines and the dbt build"),
    ("citycheck.checks", "validation"),
    ("citycheck.publication", "publication"),
    ("citycheck.operations", "schedule, alerts, freshness, the Airflow stack"),
    ("citycheck.serving", "reports, pages, SQL prompt, department portal"),
    ("citycheck.devtools", "benchmark, demo portal, demo run"),
    ("citycheck.pipeline", "entry points"),
    ("citycheck.cli", "entry points"),
    ("dags", "entry points"),
    ("scripts", "entry points"),
]
BASE = {"citycheck"}   # the package itself holds only TEMPLATES_DIR


def _layer(module: str) -> int | None:
    if module in BASE:
        return -1
    for rank, (prefix, _) in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def _modules() -> dict[str, Path]:
    folders = ("common", "extract", "citycheck", "dags", "scripts")
    return {module_name(f, ROOT): f for d in folders for f in (ROOT / d).rglob("*.py")}


def test_no_module_or_folder_imports_in_a_circle():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_cycles.py")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no import circles" in proc.stdout


def test_imports_point_down_the_flow():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        here = _layer(name)
        assert here is not None, f"{name} is in no layer of LAYERS: place it"
        for imported in imports_of(path, name):
            parts = imported.split(".")
            target = next((".".join(parts[:i]) for i in range(len(parts), 0, -1)
                           if ".".join(parts[:i]) in modules), None)
            if target is None or target == name:
                continue
            there = _layer(target)
            if there is not None and there > here and not (
                    name.endswith("__init__") or target.startswith(name + ".")):
                wrong.append(f"{name} ({LAYERS[here][0]}) imports {target} "
                             f"({LAYERS[there][0]}), later in the flow")
    assert not wrong, "\n".join(wrong)


def test_only_the_engines_know_which_engine_runs():
    """No `if target == …` outside common/engine.py and the two implementations."""
    allowed = {ROOT / "common" / "engine.py", ROOT / "common" / "config.py",
               ROOT / "citycheck" / "warehouse" / "duckdb.py",
               ROOT / "citycheck" / "warehouse" / "postgres.py"}
    found = []
    for path in _modules().values():
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "warehouse_target":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} reads warehouse_target")
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"\.name\s*[!=]=\s*[\"'](duckdb|postgres)[\"']", text):
            found.append(f"{path.relative_to(ROOT)}: compares an engine's name ({m[0]})")
    assert not found, "\n".join(found)
