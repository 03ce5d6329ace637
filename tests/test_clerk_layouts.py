"""The layouts departments send (tests/clerk_files.py), each ingested and its receipt checked
cell by cell; the autouse check in conftest.py then finds every filled cell accounted for."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from extract.submissions import ingest_file
from tests.clerk_files import LAYOUTS, render
from tests.helpers import query
from tests.test_intake_real_world import reconciled

pytestmark = pytest.mark.both_engines  # conftest.py: each test on DuckDB and on PostgreSQL

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("clerk_file", LAYOUTS, ids=[f.name for f in LAYOUTS])
def test_a_file_as_clerks_make_it_gets_a_receipt_right_to_the_cell(settings, tmp_path,
                                                                    clerk_file):
    receipt = ingest_file(clerk_file.make(tmp_path), settings)
    assert receipt.status == "loaded", receipt.to_text()
    reconciled(receipt)
    assert (receipt.rows_accepted, receipt.rows_rejected, receipt.rows_ignored) == \
        clerk_file.counts, receipt.to_text()
    rows = query(settings,
                 "select cell, row_number, status, value, is_missing, reason "
                 "from raw.submission_rows where file_hash = ?", [receipt.file_hash])
    by_cell = {r[0]: r for r in rows if r[0]}
    by_row = {r[1]: r for r in rows if not r[0]}
    for where, (status, expected) in clerk_file.expect.items():
        got = by_row.get(int(where[4:])) if where.startswith("row ") else by_cell.get(where)
        assert got is not None, f"no verdict on {where}\n{receipt.to_text()}"
        assert got[2] == status, (where, got)
        if status == "accepted":
            assert (got[3], bool(got[4])) == (expected, expected is None), (where, got)
        else:
            assert expected in got[5], (where, got[5])
    # the receipt says how each sheet was read: every column the data rows use is named
    text = receipt.to_text()
    assert "读取方式 How sheet" in text


def test_the_docs_picture_every_layout_as_it_is_tested():
    """docs/submission-format.md shows each layout exactly as the test sends it."""
    doc = (ROOT / "docs" / "submission-format.md").read_text(encoding="utf-8")
    blocks = [b.split("\n", 1)[1] for b in re.findall(r"^```[a-z]*\n.*?(?=^```$)", doc,
                                                       flags=re.S | re.M)]
    blocks = [b.rstrip("\n") for b in blocks]
    for f in LAYOUTS:
        assert render(f.rows) in blocks, f"docs/submission-format.md lacks {f.name}"
