"""Identical runs publish identical content: running the whole pipeline again with nothing new
(the same files, the open-data portal at the same address answering the same) changes no
published table — fetch attempts that brought nothing new are not new sources."""
from __future__ import annotations

from citycheck.pipeline import run_all
from citycheck.publication.publish import published_marts
from tests.faults import served_fingerprints
from tests.helpers import query


def test_a_second_identical_run_publishes_the_same_content(built):
    before = served_fingerprints(built)
    attempts = query(built.warehouse_path, "select count(*) from raw.open_data_fetches")
    summary = run_all(built)
    assert summary.fetches and all(f.status in ("unchanged", "not_modified")
                                   for f in summary.fetches), summary.fetches
    # the attempts are recorded, for freshness — just not as sources
    assert query(built.warehouse_path, "select count(*) from raw.open_data_fetches")[0][0] == \
        attempts[0][0] + len(summary.fetches)
    after = served_fingerprints(built)
    changed = [t for t in before if before[t] != after[t]]
    assert not changed, f"published tables changed by an identical run: {changed}"
    assert sorted(summary.publication.carried) == published_marts(built)
