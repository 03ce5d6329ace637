"""The record-at-a-time verdicts intake gave before they were set-based (issue 16, part 1),
kept as the oracle that tests/test_verdict_equivalence.py compares extract/verdicts.py with.

This is the Python that judged one record after the other until the batch judge replaced it,
unchanged but for its inputs: it judges the records that `read_file` cut, sheet by sheet,
with one judge per sheet (its caches and its duplicate register), then checks the totals.
It is test code: nothing in citycheck calls it.
"""
from __future__ import annotations

from pathlib import Path

from common.reference import Indicator, Reference, normalise
from extract.layout import Record, Total, header_texts
from extract.numbers import ParsedNumber, clean, parse_number, parse_year
from extract.submissions import FileContext, read_file
from extract.verdicts import BLANK_VALUE, QUALITY_FLAGS, TOTALS_TOLERANCE, RowVerdict


class RowJudge:
    """Gives one record its verdict. Resolution of the same texts is worked out once per file
    (a file repeats the same few indicator and district names thousands of times), and it
    holds what it has accepted to catch duplicates."""

    def __init__(self, ref: Reference, ctx: FileContext, value_unit: str | None):
        self.ref, self.ctx = ref, ctx
        self.value_unit = value_unit
        self.seen: dict[tuple[str, str, int], str] = {}
        self._resolved: dict[tuple, tuple] = {}
        self._numbers: dict[object, ParsedNumber] = {}

    def indicator(self, text: str) -> tuple[Indicator | None, str | None, str | None]:
        """(indicator, unit written beside its name, reason if unknown)."""
        res = self.ref.resolve_indicator(text)
        if res.code:
            return self.ref.indicators[res.code], None, None
        name, unit = header_texts(text)  # 城市管理案件处置率（%）: a unit beside the name
        if unit and name:
            alt = self.ref.resolve_indicator(name)
            if alt.code:
                return self.ref.indicators[alt.code], unit, None
        return None, None, res.reason

    def _resolve(self, ind_col: str, ind_text: str, dist_col: str, dist_text: str,
                 year_text: str, unit: str, flag_text: str) -> tuple:
        """('ok', indicator, district, year, flag) or ('rejected', column, reason). Each part
        is worked out once per distinct text: a file has thousands of records but few names."""
        ind = self._cached(("indicator", ind_text), self._resolve_indicator, ind_col, ind_text)
        if ind[0] == "rejected":
            return ind
        _, indicator, name_unit = ind
        year = self._cached(("year", year_text), self._resolve_year, year_text)
        if year[0] == "rejected":
            return year
        year = year[1]
        dist = self._cached(("district", dist_text, year, indicator.reporting_level),
                            self._resolve_district, dist_col, dist_text, year,
                            indicator.reporting_level)
        if dist[0] == "rejected":
            return dist
        unit = unit or name_unit or self.value_unit or ""
        if unit and normalise(unit) != normalise(indicator.unit):
            return ("rejected", "unit", f"unit '{unit}' differs from the catalogue unit "
                                        f"'{indicator.unit}' of {indicator.code}; convert the "
                                        f"value to {indicator.unit}")
        flag = QUALITY_FLAGS.get(normalise(flag_text)) if flag_text else None
        if flag_text and flag is None:
            return ("rejected", "quality_flag", f"unknown quality flag '{flag_text}'; use 估算 "
                                                "(estimated), 初步 (provisional) or leave it blank")
        return "ok", indicator, dist[1], year, flag

    def _cached(self, key: tuple, work, *args) -> tuple:
        hit = self._resolved.get(key)
        if hit is None:
            hit = self._resolved[key] = work(*args)
        return hit

    def _resolve_indicator(self, column: str, text: str) -> tuple:
        indicator, name_unit, why = self.indicator(text)
        if indicator is None:
            return "rejected", column, why
        if indicator.department_code != self.ctx.department_code:
            owner = self.ref.departments[indicator.department_code]["name_zh"]
            return ("rejected", column,
                    f"department '{self.ctx.department_code}' does not answer for indicator "
                    f"{indicator.code}; it is reported by {indicator.department_code} ({owner})")
        return "ok", indicator, name_unit

    def _resolve_year(self, text: str) -> tuple:
        if not text:
            return "ok", self.ctx.year
        year = parse_year(text)
        if year is None:
            return "rejected", "year", f"'{text}' is not a year (write 2023 or 2023年)"
        return "ok", year

    def _resolve_district(self, column: str, text: str, year: int, level: str) -> tuple:
        dres = self.ref.resolve_district(text, self.ctx.city_code, year)
        if dres.code is None:
            return "rejected", column, dres.reason
        district = self.ref.district(dres.code, year)
        if level == "city" and district.unit_level != "city":
            return ("rejected", column, f"indicator is reported for the whole city only, not "
                                        f"for {district.name_zh}")
        return "ok", district

    def number(self, raw: object) -> ParsedNumber:
        try:
            num = self._numbers.get(raw)
        except TypeError:
            return parse_number(raw)
        if num is None:
            num = self._numbers[raw] = parse_number(raw)
        return num

    def judge(self, rec: Record) -> RowVerdict:
        cells = rec.cells
        v = RowVerdict(rec.sheet, rec.row_number, "rejected", cells=cells, cell=rec.cell)
        if not cells.get("value") and not rec.value_is_formula:
            # nothing reported is not "reported missing": that takes a marker such as —
            v.status, v.reason = "ignored", BLANK_VALUE
            return v
        ind_col = "indicator_code" if cells.get("indicator_code") else "indicator_name"
        dist_col = "district_code" if cells.get("district_code") else "district_name"
        key = (ind_col, cells.get(ind_col, ""), dist_col, cells.get(dist_col, ""),
               cells.get("year", ""), cells.get("unit", ""), cells.get("quality_flag", ""))
        resolved = self._resolve(*key)
        if resolved[0] == "rejected":
            v.column, v.reason = resolved[1], resolved[2]
            v.fault_cell = rec.fault_cell(v.column)
            return v
        _, indicator, district, year, flag = resolved
        if rec.value_is_formula and rec.raw_value is None:
            v.column, v.reason = "value", ("the cell holds a formula without a saved result; "
                                           "open and save the file in Excel, or paste values")
            return v
        num = self.number(rec.raw_value)
        if num.error:
            v.column, v.reason = "value", (f"{num.error}; write a number such as 12.5, or — "
                                           "if there is no figure")
            return v
        if num.value is not None and not indicator.in_range(num.value):
            v.column, v.reason = "value", (f"{num.value:g} is outside the valid range "
                                           f"{indicator.range_text()} of {indicator.code}")
            return v
        seen_key = (indicator.code, district.code, year)
        earlier = self.seen.get(seen_key)
        if earlier:  # checked last: only an accepted record claims its key
            v.column, v.reason = ind_col, (f"duplicate: {indicator.code} for {district.name_zh} "
                                           f"{year} is already given in {earlier}")
            return v
        self.seen[seen_key] = f"row {rec.row_number} (sheet {rec.sheet}, cell {rec.cell})"
        v.status = "accepted"
        v.indicator_code, v.district_code, v.year = seen_key
        v.value, v.is_missing = num.value, num.is_missing
        v.quality_flag = flag or ("estimated" if num.is_estimate else None)
        return v


def check_total(total: Total, verdicts_by_indicator: dict, judge: RowJudge) -> str:
    """The verdict on a totals row or cell, for the receipt and the ignored-row reason."""
    stated = judge.number(total.raw_value)
    if stated.value is None:
        return "totals row without a number: not checked"
    indicator, _, _ = judge.indicator(total.indicator_text) if total.indicator_text else (
        None, None, None)
    if indicator is None:
        return f"totals {stated.value:g}: not checked (no known indicator on the row)"
    if indicator.aggregation != "sum":
        return (f"totals {stated.value:g}: not checked ({indicator.code} is not a sum of "
                f"districts but {indicator.aggregation})")
    year = parse_year(total.year_text) if total.year_text else judge.ctx.year
    parts = verdicts_by_indicator.get((total.sheet, indicator.code, year), [])
    accepted = [p for p in parts if p.status == "accepted"]
    if len(accepted) < len(parts) or any(p.value is None for p in accepted) or not accepted:
        return (f"totals {stated.value:g}: not checked (some district values of "
                f"{indicator.code} {year} are missing or rejected)")
    summed = round(sum(p.value for p in accepted), 6)
    if abs(summed - stated.value) <= TOTALS_TOLERANCE * max(1.0, abs(summed)):
        return f"totals {stated.value:g} = sum of {len(accepted)} districts ({indicator.code} {year})"
    return (f"MISMATCH: totals {stated.value:g} differs from the sum of the {len(accepted)} "
            f"districts {summed:g} ({indicator.code} {year}); the district values were loaded, "
            "the totals row was not — check both")


def _count_rejected_parts(verdicts: list[RowVerdict], by_indicator: dict, judge: RowJudge):
    """A district value rejected for its number, or left blank, still belongs to its
    indicator's total: a total over partly rejected or unreported districts is reported as not
    checked, never as a mismatch (the total may well include the district left blank)."""
    for v in verdicts:
        if (v.status == "rejected" and v.column == "value") or v.reason == BLANK_VALUE:
            ind, _, _ = judge.indicator(v.cells.get("indicator_code")
                                         or v.cells.get("indicator_name", ""))
            if ind:
                year = parse_year(v.cells["year"]) if v.cells.get("year") else judge.ctx.year
                by_indicator.setdefault((v.sheet, ind.code, year), []).append(v)


def record_verdicts(path: Path, ref: Reference) -> list[RowVerdict]:
    """Every entry of the file with the verdict the record-at-a-time rules gave it."""
    reading = read_file(path, ref)
    verdicts: list[RowVerdict] = []
    judges: dict[str, RowJudge] = {}
    totals: list[tuple[int, Total, RowJudge, dict]] = []
    by_indicator: dict[str, dict] = {}
    for entry in reading.entries:
        if type(entry) is RowVerdict:
            verdicts.append(entry)
            continue
        judge = judges.get(entry.sheet)
        if judge is None:
            judge = judges[entry.sheet] = RowJudge(ref, reading.ctx,
                                                   reading.value_units.get(entry.sheet))
        found = by_indicator.setdefault(entry.sheet, {})
        if type(entry) is Total:
            totals.append((len(verdicts), entry, judge, found))
            verdicts.append(RowVerdict(entry.sheet, entry.row_number, "ignored", "totals",
                                       cell=entry.cell, cells={"value": clean(entry.raw_value)}))
            continue
        v = judge.judge(entry)
        if v.status == "accepted":
            found.setdefault((entry.sheet, v.indicator_code, v.year), []).append(v)
        verdicts.append(v)
    counted = set()
    for index, total, judge, found in totals:
        if total.sheet not in counted:   # once per sheet, once its records are judged
            counted.add(total.sheet)
            _count_rejected_parts(verdicts, found, judge)
        verdicts[index].reason = ("totals column: " if total.wide else "totals row: ") + \
            check_total(total, found, judge)
    return verdicts
