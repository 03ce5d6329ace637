"""The benchmark runs end to end at scale S: the real pipeline and the two baselines produce
the same scorecard. No timings are asserted (docs/performance.md has the measured figures)."""
import json

from common.config import PROJECT_ROOT


def test_scale_s_runs_and_all_three_agree(tmp_path):
    from citycheck.devtools.bench import SCALES, run_bench, write_results

    result = run_bench("S", workdir=tmp_path / "work")
    assert result.agree, "the pipeline, pandas and DuckDB disagree on the scorecard"
    assert result.compared_rows == SCALES["S"].values == 9 * 60 * 5
    assert [s.name for s in result.stages] == ["ingest", "build", "validate", "publish"]
    assert all(s.seconds > 0 and s.peak_rss_mb > 0 and s.cpu_seconds > 0
               for s in result.stages + result.baselines)
    # what dominates the build is recorded with it: dbt's slowest nodes, slowest first
    nodes = result.stages[1].slowest_nodes
    models = {p.stem for p in (PROJECT_ROOT / "dbt_project" / "models").rglob("*.sql")}
    assert len(nodes) == 12 and [t for _, t in nodes] == sorted((t for _, t in nodes),
                                                                reverse=True)
    assert all(n.split(".")[-1] in models for n, _ in nodes if n.startswith("model."))
    assert any(n.startswith("model.") for n, _ in nodes)
    # ... and what people read: the indicator pages and every annual report
    assert [s.name for s in result.pages] == ["site", "reports"]
    reports = tmp_path / "work" / "S" / "data" / "reports"
    assert (reports / "site" / "index.html").exists()
    assert len(list((reports / "annual").glob("*_*.html"))) == SCALES["S"].years
    # another run's result (another day, commit or machine) lies in the results folder
    results = tmp_path / "results"
    results.mkdir()
    (results / "M.json").write_text(json.dumps({
        "scale": "M", "values": 163200, "files": 960, "run_id": "20200101T000000Z-0123456789ab",
        "stages": [], "baselines": []}))
    summary = write_results(result, results)
    assert json.loads((results / "S.json").read_text())["agree"] is True
    text = summary.read_text()
    assert "| S | 2,700 | 30 |" in text
    # one run only: the other is named as left out, and in no table
    assert f"Run {result.run_id}:" in text and result.commit in result.run_id
    assert "Left out (other runs): M.json (run 20200101T000000Z-0123456789ab)" in text
    assert "| M |" not in text
    # one department's re-submission went all the way to the published marts, and on to its
    # pages and reports
    assert result.incremental_visible
    assert [s.name for s in result.incremental] == [
        "incremental ingest", "incremental build", "incremental validate", "incremental publish",
        "incremental site", "incremental reports"]
    assert result.incremental_seconds > result.incremental_published_seconds > 0
    assert len(result.incremental[1].slowest_nodes) == 12      # the re-submission's build
    assert "| fixed overhead (time at S) | CPU at S |" in text
    build_cpu = result.stages[1].cpu_seconds
    assert f"| build | {result.stages[1].seconds:.1f} s | {build_cpu:.1f} s |" in text
    png = tmp_path / "results" / "time_vs_values.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_stage_is_charged_the_cpu_its_process_spent():
    """CPU seconds are the stage process's own (and its children's), not the bench's: a
    child that burns about a second of CPU while sleeping half a second is charged the
    second, and its sleep is in the wall time only."""
    import os
    import sys

    from citycheck.devtools.bench import _run

    burn = ("import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass\n"
            "time.sleep(0.5)")
    stage = _run("burn", [sys.executable, "-c", burn], dict(os.environ), 1)
    assert 1.0 <= stage.cpu_seconds < stage.seconds
    assert stage.seconds >= 1.5


def test_a_run_is_marked_changed_by_the_code_not_by_its_own_results(tmp_path):
    """The commit a run names: "+changes" when a tracked file differs from it, but not for
    the results the bench writes itself (S's results written before M runs)."""
    import subprocess

    from citycheck.devtools.bench import RESULTS_DIR, commit_of

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    results = tmp_path / RESULTS_DIR.relative_to(PROJECT_ROOT)
    results.mkdir(parents=True)
    (results / "S.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    head = commit_of(tmp_path)
    assert len(head) == 12 and "+" not in head
    (results / "S.json").write_text('{"scale": "S"}')
    assert commit_of(tmp_path) == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert commit_of(tmp_path) == head + "+changes"
