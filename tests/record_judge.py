"""The record-at-a-time verdicts intake gave before they were set-based (issue 16, part 1),
kept as the oracle that tests/test_verdict_equivalence.py compares extract/verdicts.py with.

This is the Python that judged one record after the other until the batch judge replaced it,
kept up with the rules since (issue 30: the number grammar with its % rule, a table's own
year, one indicator-district-year given twice in the file): it judges the records that
`read_file` cut, table by table, with one judge per table (its caches), a file-wide register
of what was accepted (duplicates and conflicting figures), then checks the totals. It is
test code: nothing in citycheck calls it.
"""
from __future__ import annotations

from pathlib import Path

from common.messages import say
from common.reference import Indicator, Reference, normalise
from extract.layout import Record, Total, header_texts
from extract.numbers import ParsedNumber, clean, parse_number, parse_year
from extract.submissions import FileContext, read_file
from extract.verdicts import (
    BLANK_VALUE,
    QUALITY_FLAGS,
    SHOWN_GIVEN,
    TOTALS_TOLERANCE,
    RowVerdict,
)


class RowJudge:
    """Gives one record its verdict. Resolution of the same texts is worked out once per file
    (a file repeats the same few indicator and district names thousands of times), and it
    holds what it has accepted to catch duplicates."""

    def __init__(self, ref: Reference, ctx: FileContext, block: dict):
        self.ref, self.ctx = ref, ctx
        self.value_unit = block["unit"]
        self.year = block["year"]            # the table's own year (None: not stated)
        self.block = block
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
        if year is None:
            sheet, cell = self.block["where"].split("!")
            return "rejected", "year", say("block_year_unclear", sheet=sheet, cell=cell)
        dist = self._cached(("district", dist_text, year, indicator.reporting_level),
                            self._resolve_district, dist_col, dist_text, year,
                            indicator.reporting_level)
        if dist[0] == "rejected":
            return dist
        unit = unit or name_unit or self.value_unit or ""
        if unit and normalise(unit) != normalise(indicator.unit):
            return ("rejected", "unit", say("unit_differs", unit=unit, catalogue=indicator.unit,
                                            indicator=indicator.code))
        flag = QUALITY_FLAGS.get(normalise(flag_text)) if flag_text else None
        if flag_text and flag is None:
            return ("rejected", "quality_flag", say("unknown_flag", text=flag_text))
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
                    say("not_authorised", department=self.ctx.department_code,
                        indicator=indicator.code, owner=indicator.department_code,
                        owner_name=owner))
        return "ok", indicator, name_unit

    def _resolve_year(self, text: str) -> tuple:
        if not text:
            return "ok", self.year
        year = parse_year(text)
        if year is None:
            return "rejected", "year", say("not_a_year", text=text)
        return "ok", year

    def _resolve_district(self, column: str, text: str, year: int, level: str) -> tuple:
        dres = self.ref.resolve_district(text, self.ctx.city_code, year)
        if dres.code is None:
            return "rejected", column, dres.reason
        district = self.ref.district(dres.code, year)
        if level == "city" and district.unit_level != "city":
            return ("rejected", column, say("city_only_indicator", district=district.name_zh))
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
            v.column, v.reason = "value", say("formula_without_result")
            return v
        num = self.number(rec.raw_value)
        if num.error:
            v.column, v.reason = "value", num.error
            return v
        if num.percent and indicator.unit != "%":
            v.column, v.reason = "value", say("percent_not_unit", text=cells["value"],
                                               indicator=indicator.code, unit=indicator.unit)
            return v
        if num.value is not None and not indicator.in_range(num.value):
            v.column, v.reason = "value", say("out_of_range", value=f"{num.value:g}",
                                               range=indicator.range_text(),
                                               indicator=indicator.code)
            return v
        seen_key = (indicator.code, district.code, year)
        self.last_claim = (seen_key, district.name_zh, ind_col)
        v.status = "accepted"
        v.indicator_code, v.district_code, v.year = seen_key
        v.value, v.is_missing = num.value, num.is_missing
        v.quality_flag = flag or ("estimated" if num.is_estimate else None)
        return v


def check_total(total: Total, verdicts_by_indicator: dict, judge: RowJudge) -> str:
    """The verdict on a totals row or cell, for the receipt and the ignored-row reason."""
    stated = judge.number(total.raw_value)
    if stated.value is None:
        return say("totals_no_number")
    indicator, _, _ = judge.indicator(total.indicator_text) if total.indicator_text else (
        None, None, None)
    if indicator is None:
        return say("totals_no_indicator", stated=f"{stated.value:g}")
    if indicator.aggregation != "sum":
        return say("totals_not_sum", stated=f"{stated.value:g}", indicator=indicator.code,
                   aggregation=indicator.aggregation)
    year = parse_year(total.year_text) if total.year_text else judge.year
    parts = verdicts_by_indicator.get((total.sheet, indicator.code, year), [])
    accepted = [p for p in parts if p.status == "accepted"]
    if len(accepted) < len(parts) or any(p.value is None for p in accepted) or not accepted:
        return say("totals_incomplete", stated=f"{stated.value:g}", indicator=indicator.code,
                   year=year)
    summed = round(sum(p.value for p in accepted), 6)
    if abs(summed - stated.value) <= TOTALS_TOLERANCE * max(1.0, abs(summed)):
        return say("totals_ok", stated=f"{stated.value:g}", count=len(accepted),
                   indicator=indicator.code, year=year)
    return say("totals_mismatch", stated=f"{stated.value:g}", count=len(accepted),
               summed=f"{summed:g}", indicator=indicator.code, year=year)


def _first(texts: list[str]) -> str:
    """The first SHOWN_GIVEN texts, and how many more."""
    more = len(texts) - SHOWN_GIVEN
    return ", ".join(texts[:SHOWN_GIVEN]) + (f" … +{more}" if more > 0 else "")


def _claims(verdicts: list[RowVerdict], claimed: dict[int, tuple]) -> None:
    """One indicator, district and year given more than once in the file: with the same
    figure the first stands and the later ones are duplicates; with different figures none
    stands."""
    claims: dict[tuple, list[RowVerdict]] = {}
    for v in verdicts:
        if v.status == "accepted":
            claims.setdefault(claimed[id(v)][0], []).append(v)
    for found in claims.values():
        if len(found) < 2:
            continue
        figures = {"missing" if v.value is None else repr(v.value) for v in found}
        if len(figures) > 1:
            shown = _first(sorted({f"{v.value:g}" if v.value is not None else
                                   v.cells.get("value", "") for v in found}))
            places = _first([f"{v.sheet}!{v.cell}" for v in found])
            for v in found:
                _reject(v, "value", say("conflicting_record", values=shown, cells=places))
            continue
        first = found[0]
        for v in found[1:]:
            key, district, ind_col = claimed[id(v)]
            _reject(v, ind_col, say("duplicate_record", indicator=key[0], district=district,
                                    year=key[2], row=first.row_number, sheet=first.sheet,
                                    cell=first.cell))


def _reject(v: RowVerdict, column: str, reason: str) -> None:
    v.status, v.column, v.reason = "rejected", column, reason
    v.indicator_code = v.district_code = v.year = v.value = v.quality_flag = None
    v.is_missing = False


def _count_rejected_parts(verdicts: list[RowVerdict], by_indicator: dict, judge: RowJudge):
    """A district value rejected for its number, or left blank, still belongs to its
    indicator's total: a total over partly rejected or unreported districts is reported as not
    checked, never as a mismatch (the total may well include the district left blank)."""
    for v in verdicts:
        if (v.status == "rejected" and v.column == "value") or v.reason == BLANK_VALUE:
            ind, _, _ = judge.indicator(v.cells.get("indicator_code")
                                         or v.cells.get("indicator_name", ""))
            if ind:
                year = parse_year(v.cells["year"]) if v.cells.get("year") else judge.year
                by_indicator.setdefault((v.sheet, ind.code, year), []).append(v)


def record_verdicts(path: Path, ref: Reference) -> list[RowVerdict]:
    """Every entry of the file with the verdict the record-at-a-time rules gave it."""
    reading = read_file(path, ref)
    verdicts: list[RowVerdict] = []
    judges: dict[int, RowJudge] = {}
    totals: list[tuple[int, Total, RowJudge, dict]] = []
    by_indicator: dict[str, dict] = {}
    claims: dict[int, tuple] = {}
    for entry in reading.entries:
        if type(entry) is RowVerdict:
            verdicts.append(entry)
            continue
        judge = judges.get(entry.block)
        if judge is None:
            judge = judges[entry.block] = RowJudge(ref, reading.ctx,
                                                   reading.blocks[entry.block])
        found = by_indicator.setdefault(entry.sheet, {})
        if type(entry) is Total:
            totals.append((len(verdicts), entry, judge, found))
            verdicts.append(RowVerdict(entry.sheet, entry.row_number, "ignored", "totals",
                                       cell=entry.cell, cells={"value": clean(entry.raw_value)}))
            continue
        judge.last_claim = None
        v = judge.judge(entry)
        if v.status == "accepted":
            claims[id(v)] = judge.last_claim
        verdicts.append(v)
    _claims(verdicts, claims)
    for v in verdicts:
        if v.status == "accepted":
            by_indicator[v.sheet].setdefault((v.sheet, v.indicator_code, v.year), []).append(v)
    counted = set()
    for index, total, judge, found in totals:
        if total.sheet not in counted:   # once per sheet, once its records are judged
            counted.add(total.sheet)
            _count_rejected_parts(verdicts, found, judge)
        verdicts[index].reason = ("totals column: " if total.wide else "totals row: ") + \
            check_total(total, found, judge)
    return verdicts
