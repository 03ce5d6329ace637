"""Intake never stores a wrong value: a property over files Hypothesis makes up.

For every generated workbook or CSV (tests/generated_submissions.py: several sheets, several
tables and years, every documented layout, notes, footers, totals, reference tables, figures
written every way clerks write them and every way that is no figure, three encodings, .xlsx,
.xls and CSV), landed through the real intake into a warehouse of its own:

- every value stored equals what the file says for its indicator, district and year (a
  figure, or missing for a missing marker) — never a figure of a reference table, of a table
  whose year the file does not state, from a cell that is no figure, or one of two figures
  the file gives for one value;
- every figure the file states plainly, in a table whose year it states, is stored;
- every filled cell is accounted for (accepted, rejected or ignored), and the counts add up.

`make test` tries CITYCHECK_PROPERTY_EXAMPLES examples (default 60), derandomised: the same
files on every run. A longer hunt: `CITYCHECK_PROPERTY_EXAMPLES=2000 CITYCHECK_PROPERTY_SEED=
random .venv/bin/python -m pytest -p no:xdist tests/test_intake_property.py`
(docs/development.md).
"""
from __future__ import annotations

import math
import os
import uuid

from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import seed as hypothesis_seed

from extract.submissions import ingest_file
from tests.cell_accounting import unaccounted_in
from tests.generated_submissions import CONFLICT, MISSING, generated_files
from tests.helpers import make_settings, query

EXAMPLES = int(os.environ.get("CITYCHECK_PROPERTY_EXAMPLES", "60"))
RANDOM = os.environ.get("CITYCHECK_PROPERTY_SEED") == "random"


def _property(test):
    test = settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM,
                    print_blob=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])(test)
    return test if RANDOM else hypothesis_seed(20261206)(test)


@_property
@given(generated=generated_files())
def test_intake_stores_exactly_what_a_file_says(generated, tmp_path, monkeypatch):
    where = make_settings(tmp_path / uuid.uuid4().hex[:8], monkeypatch)   # a warehouse each
    folder = where.data_dir / "sent"
    folder.mkdir()
    path = generated.write(folder)
    note(f"{generated.fmt}, sender year {generated.sender_year}, header year "
         f"{generated.header_year}: " + "; ".join(
             f"{s.name}: " + ", ".join(f"{b.layout} year={y} ref={b.reference} "
                                       f"{[(c.indicator[:6], c.district, c.value, c.kind) for c in b.cells]}"
                                       for sh, b, y in generated.blocks() if sh is s)
             for s in generated.sheets))
    receipt = ingest_file(path, where, year=generated.sender_year)
    note(receipt.to_text())
    assert receipt.rows_read == receipt.rows_accepted + receipt.rows_rejected \
        + receipt.rows_ignored
    stored = {}
    for ind, district, year, value, missing in query(
            where.warehouse_path,
            "select indicator_code, district_code, year, value, is_missing from "
            "raw.submission_rows where file_hash = ? and status = 'accepted'",
            [receipt.file_hash]) if receipt.file_hash else []:
        assert (ind, district, year) not in stored, "one value stored twice from one file"
        stored[(ind, district, year)] = MISSING if missing else value
    truth = generated.truth
    for key, value in stored.items():
        said = truth.get(key)
        assert said is not None, f"{key} = {value} stored; the file does not say it"
        assert said != CONFLICT, f"{key} = {value} stored; the file gives it different figures"
        assert value == said if MISSING in (value, said) else math.isclose(value, said), \
            f"{key}: stored {value}, the file says {said}"
    event(f"{generated.fmt}: {'values stored' if stored else 'nothing stored'}")
    for _, block, year in generated.blocks():
        event(f"table {block.layout}" + (" (reference)" if block.reference else "")
              + (" (year stated nowhere)" if year is None else ""))
        for c in block.cells:
            event(f"figure written {c.kind}")
    for key, value in generated.must.items():
        assert key in stored, f"{key} = {value}, stated plainly, was not stored"
    assert not unaccounted_in(where)
