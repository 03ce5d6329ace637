"""Great Expectations suites evaluated as SQL where the data is (DuckDB or PostgreSQL).

The suites stay Great Expectations suite files (expectations/*.json) and mean what GX says
they mean; this module evaluates the expectation types the project uses with the semantics of
GX 1.x's own SQL execution (a row is "unexpected" exactly when GX counts it so), one
`count(*)` per expectation and, only when something failed, a few example rows. No pandas
frame of the data is made and GX is not imported: at M that is 0.2 s of SQL against about
5 s of pandas and a 6–13 s `import great_expectations` (docs/performance.md).

A suite holding a type this module does not know is validated by GX itself (validate.py),
and `CITYCHECK_VALIDATION_ENGINE=gx` validates every suite with GX on pandas frames:
`tests/test_validation_engines.py` runs both on the same doctored warehouse and finds the
same verdicts and the same unexpected counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcome:
    """One expectation's verdict on one partition, as the validation report records it."""
    type: str
    kwargs: dict
    why: str | None
    success: bool
    unexpected_count: int | None
    examples: list[dict] = field(default_factory=list)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pair(kw: dict) -> str:
    a, b = _q(kw["column_A"]), _q(kw["column_B"])
    op = ">=" if kw.get("or_equal") else ">"
    ignore = kw.get("ignore_row_if", "both_values_are_missing")
    skip = {"either_value_is_missing": f"{a} is null or {b} is null",
            "both_values_are_missing": f"{a} is null and {b} is null",
            "neither": "false"}[ignore]
    # a row not ignored fails unless a > b (or >=); a comparison with a null fails too
    return f"not ({skip}) and not coalesce({a} {op} {b}, false)"


def _between(kw: dict) -> str:
    c = _q(kw["column"])
    parts = []
    if kw.get("min_value") is not None:
        parts.append(f"{c} {'<=' if kw.get('strict_min') else '<'} {float(kw['min_value'])!r}")
    if kw.get("max_value") is not None:
        parts.append(f"{c} {'>=' if kw.get('strict_max') else '>'} {float(kw['max_value'])!r}")
    return f"{c} is not null and ({' or '.join(parts) or 'false'})"


# type -> (what makes a row unexpected, over which rows `mostly` counts; a window needed)
# GX: column-map expectations ignore null values (but not_be_null), compound uniqueness
# ignores rows whose columns are all missing, pair expectations follow ignore_row_if.
SUPPORTED = {
    "expect_column_values_to_not_be_null":
        (lambda kw: f"{_q(kw['column'])} is null", lambda kw: "true"),
    "expect_column_values_to_be_unique":
        (lambda kw: f"{_q(kw['column'])} is not null and _n > 1",
         lambda kw: f"{_q(kw['column'])} is not null"),
    "expect_compound_columns_to_be_unique":
        (lambda kw: f"not ({' and '.join(f'{_q(c)} is null' for c in kw['column_list'])}) "
                    "and _n > 1",
         lambda kw: f"not ({' and '.join(f'{_q(c)} is null' for c in kw['column_list'])})"),
    "expect_column_values_to_be_between":
        (_between, lambda kw: f"{_q(kw['column'])} is not null"),
    "expect_column_pair_values_a_to_be_greater_than_b":
        (_pair, lambda kw: "true"),
}
_KNOWN_KWARGS = {"column", "column_list", "column_A", "column_B", "or_equal", "ignore_row_if",
                 "min_value", "max_value", "strict_min", "strict_max", "mostly"}


def supports(expectations: list[dict]) -> bool:
    """Whether every expectation of a suite can be evaluated here with GX's meaning."""
    for e in expectations:
        if e["type"] not in SUPPORTED or set(e.get("kwargs", {})) - _KNOWN_KWARGS:
            return False
        if e["kwargs"].get("ignore_row_if", "either_value_is_missing") not in (
                "either_value_is_missing", "both_values_are_missing", "neither"):
            return False
    return True


def _source(sql: str, e: dict) -> str:
    """The rows to judge; uniqueness needs how often each key occurs (a window)."""
    kw = e["kwargs"]
    if e["type"] == "expect_column_values_to_be_unique":
        keys = _q(kw["column"])
    elif e["type"] == "expect_compound_columns_to_be_unique":
        keys = ", ".join(_q(c) for c in kw["column_list"])
    else:
        return f"({sql}) as s"
    return f"(select s.*, count(*) over (partition by {keys}) as _n from ({sql}) as s) as s"


def run(con, sql: str, params: list, expectations: list[dict],
        example_columns: list[str], max_examples: int) -> list[Outcome]:
    """Every expectation of a suite on the rows of `sql` (with `?` params)."""
    out = []
    for e in expectations:
        kw = e.get("kwargs", {})
        unexpected, counted = (f(kw) for f in SUPPORTED[e["type"]])
        source = _source(sql, e)
        bad, total = con.execute(
            f"select count(*) filter (where {unexpected}), count(*) filter (where {counted}) "
            f"from {source}", params).fetchone()
        mostly = kw.get("mostly")
        success = bad == 0 if mostly is None else (
            total == 0 or (total - bad) / total >= float(mostly))
        examples = []
        if bad:
            columns = ", ".join(_q(c) for c in example_columns) or "*"
            order = ", ".join(_q(c) for c in example_columns) or "1"
            rows = con.execute(f"select {columns} from {source} where {unexpected} "
                               f"order by {order} limit {int(max_examples)}", params).fetchall()
            examples = [dict(zip(example_columns, r, strict=True)) for r in rows]
        out.append(Outcome(e["type"], dict(kw),
                           (e.get("meta") or {}).get("why"), success, int(bad), examples))
    return out
