"""The benchmark runs end to end at scale S: the real pipeline and the two baselines produce
the same scorecard. No timings are asserted (docs/performance.md has the measured figures)."""
import json


def test_scale_s_runs_and_all_three_agree(tmp_path):
    from citycheck.devtools.bench import SCALES, run_bench, write_results

    result = run_bench("S", workdir=tmp_path / "work")
    assert result.agree, "the pipeline, pandas and DuckDB disagree on the scorecard"
    assert result.compared_rows == SCALES["S"].values == 9 * 60 * 5
    assert [s.name for s in result.stages] == ["ingest", "build", "validate", "publish"]
    assert all(s.seconds > 0 and s.peak_rss_mb > 0 for s in result.stages + result.baselines)
    summary = write_results(result, tmp_path / "results")
    assert json.loads((tmp_path / "results" / "S.json").read_text())["agree"] is True
    assert "| S | 2,700 | 30 |" in summary.read_text()
    # one department's re-submission went all the way to the published marts
    assert result.incremental_visible
    assert [s.name for s in result.incremental] == [
        "incremental ingest", "incremental build", "incremental validate", "incremental publish"]
    assert "| fixed overhead (time at S) |" in summary.read_text()
    png = tmp_path / "results" / "time_vs_values.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
