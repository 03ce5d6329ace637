"""Reference data (the dbt seeds) as Python lookups for intake.

The seeds in dbt_project/seeds are the single source of reference data: dbt loads them into
the warehouse and intake reads the same CSV files here to resolve district and indicator
names, so a department gets its verdict the moment its file arrives.
"""
from __future__ import annotations

import csv
import difflib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from common.config import SEEDS_DIR, ConfigError
from common.messages import say

_SPACE = re.compile(r"\s+")
# Prefixes a department may put in front of a unit's name: 山东省威海市环翠区 -> 环翠区.
_PREFIXES = ("山东省",)


@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """Full-width to half-width, drop all whitespace, lower-case Latin letters."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text)).lower()


@dataclass(frozen=True)
class District:
    code: str
    city_code: str
    name_zh: str
    name_en: str
    unit_level: str
    reports_indicators: bool
    valid_from: date
    valid_to: date | None

    def valid_in(self, year: int) -> bool:
        return self.valid_from <= date(year, 12, 31) and (
            self.valid_to is None or self.valid_to >= date(year, 1, 1))


@dataclass(frozen=True)
class Indicator:
    code: str
    name_zh: str
    name_en: str
    unit: str
    department_code: str
    reporting_level: str
    aggregation: str
    valid_min: float | None
    valid_max: float | None

    def in_range(self, value: float) -> bool:
        return ((self.valid_min is None or value >= self.valid_min)
                and (self.valid_max is None or value <= self.valid_max))

    def range_text(self) -> str:
        lo = "" if self.valid_min is None else f"{self.valid_min:g}"
        hi = "" if self.valid_max is None else f"{self.valid_max:g}"
        return f"{lo}–{hi} {self.unit}"


@dataclass(frozen=True)
class Programme:
    """A city's programme and the calendar of its reporting rounds: the round of reporting
    year Y opens on `round_opens` (month-day) of Y + 1 and is due on `round_deadline` of Y + 1
    (None: CITYCHECK_SUBMISSION_DEADLINE), for every Y from first_year to last_year."""
    code: str
    city_code: str
    name_zh: str
    name_en: str
    first_year: int
    last_year: int | None
    round_opens: str
    round_deadline: str | None


@dataclass(frozen=True)
class Resolution:
    code: str | None
    reason: str | None = None


def _read(name: str, seeds_dir: Path) -> list[dict[str, str]]:
    with open(seeds_dir / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _one_rule_each(rules: list[dict], path: Path) -> None:
    """An indicator names each plausibility rule once: twice would be two thresholds for one
    check, and two warnings for one value, which raw.submission_warnings' key (record and
    rule) refuses in the middle of a batch's transaction, with DuckDB's words."""
    seen: dict[tuple[str, str], int] = {}
    for line, r in enumerate(rules, start=2):
        key = (r["indicator_code"], r["rule"])
        if key in seen:
            raise ConfigError(
                f"{path}: rule {key[1]} of indicator {key[0]} is on lines {seen[key]} and "
                f"{line}: keep one of them (an indicator names each rule once)")
        seen[key] = line


def _float(text: str) -> float | None:
    return float(text) if text.strip() else None


class Reference:
    def __init__(self, seeds_dir: Path = SEEDS_DIR):
        self.cities = {r["city_code"]: r for r in _read("cities.csv", seeds_dir)}
        # city -> (indicator, first year, last year or None): its programme's framework by year
        # (framework_items.csv; the warehouse reads the same rows as int_framework)
        programme_city = {r["programme_code"]: r["city_code"]
                          for r in _read("programmes.csv", seeds_dir)}
        self._framework: dict[str, list[tuple[str, int, int | None]]] = {}
        for r in _read("framework_items.csv", seeds_dir):
            self._framework.setdefault(programme_city[r["programme_code"]], []).append(
                (r["indicator_code"], int(r["first_year"]),
                 int(r["last_year"]) if r["last_year"].strip() else None))
        self.departments = {r["department_code"]: r for r in _read("departments.csv", seeds_dir)}
        # a department's name as written, the city and 市 taken off its front -> its code
        self._department_names: dict[str, str] = {
            self._bare(d["name_zh"]): c for c, d in self.departments.items()}
        for r in (_read("department_aliases.csv", seeds_dir)
                  if (seeds_dir / "department_aliases.csv").exists() else []):
            self._department_names.setdefault(self._bare(r["alias"]), r["department_code"])
        # indicator -> rule -> threshold: values that break one are accepted but flagged
        # (a reference without the file, such as the benchmark's, has no rules)
        self.plausibility_rules = [
            {"indicator_code": r["indicator_code"], "rule": r["rule"],
             "threshold": _float(r["threshold"]), "action": r.get("action") or "inform"}
            for r in (_read("plausibility_rules.csv", seeds_dir)
                      if (seeds_dir / "plausibility_rules.csv").exists() else [])]
        _one_rule_each(self.plausibility_rules, seeds_dir / "plausibility_rules.csv")
        # city -> its programme and the calendar of its reporting rounds (seeds/programmes.csv;
        # a reference without the file, such as the benchmark's, runs no rounds)
        self.programmes: dict[str, Programme] = {
            r["city_code"]: Programme(
                code=r["programme_code"], city_code=r["city_code"], name_zh=r["name_zh"],
                name_en=r["name_en"], first_year=int(r["first_year"]),
                last_year=int(r["last_year"]) if r["last_year"].strip() else None,
                round_opens=r["round_opens"].strip() or "01-01",
                round_deadline=r["round_deadline"].strip() or None)
            for r in (_read("programmes.csv", seeds_dir)
                      if (seeds_dir / "programmes.csv").exists() else [])}
        # code -> every version of the unit (a rename that keeps its code adds a version);
        # `districts` is the latest version, `district(code, year)` the one valid in a year.
        self.district_versions: dict[str, list[District]] = {}
        for r in _read("districts.csv", seeds_dir):
            self.district_versions.setdefault(r["district_code"], []).append(District(
                code=r["district_code"], city_code=r["city_code"], name_zh=r["name_zh"],
                name_en=r["name_en"], unit_level=r["unit_level"],
                reports_indicators=r["reports_indicators"] == "true",
                valid_from=date.fromisoformat(r["valid_from"]),
                valid_to=date.fromisoformat(r["valid_to"]) if r["valid_to"] else None))
        for versions in self.district_versions.values():
            versions.sort(key=lambda d: d.valid_from)
        self.districts: dict[str, District] = {c: v[-1] for c, v in self.district_versions.items()}
        self.indicators: dict[str, Indicator] = {}
        for r in _read("indicators.csv", seeds_dir):
            self.indicators[r["indicator_code"]] = Indicator(
                code=r["indicator_code"], name_zh=r["name_zh"], name_en=r["name_en"],
                unit=r["unit"], department_code=r["department_code"],
                reporting_level=r["reporting_level"], aggregation=r["aggregation"],
                valid_min=_float(r["valid_min"]),
                valid_max=_float(r["valid_max"]))
        # (city, normalised name) -> (code, valid_from of the version bearing that name, or
        # None for a code or listed alias, which stand for every version of the unit). A name
        # may have had several codes over time, and a code several names.
        self._district_names: dict[tuple[str, str], set[tuple[str, date | None]]] = {}
        for d in (v for versions in self.district_versions.values() for v in versions):
            city_name = self.cities[d.city_code]["name_zh"]
            for name in {d.name_zh, city_name + d.name_zh}:
                self._district_names.setdefault((d.city_code, normalise(name)), set()).add(
                    (d.code, d.valid_from))
            self._district_names.setdefault((d.city_code, normalise(d.code)), set()).add(
                (d.code, None))
        for r in _read("district_aliases.csv", seeds_dir):
            self._district_names.setdefault(
                (r["city_code"], normalise(r["alias"])), set()).add((r["district_code"], None))
        self._indicator_names: dict[str, str] = {}
        for ind in self.indicators.values():
            self._indicator_names[normalise(ind.code)] = ind.code
            self._indicator_names[normalise(ind.name_zh)] = ind.code

    # -- departments -----------------------------------------------------------------------
    def _bare(self, name: str) -> str:
        """A department's name without the province, the city or 市 in front: 山东省淄博市城市
        管理局, 淄博市城市管理局 and 市城市管理局 are all 城市管理局."""
        key = normalise(name)
        for prefix in (*map(normalise, _PREFIXES),
                       *(normalise(c["name_zh"]) for c in getattr(self, "cities", {}).values())):
            if prefix and key.startswith(prefix) and len(key) > len(prefix):
                key = key[len(prefix):]
        return key[1:] if key.startswith("市") and len(key) > 1 else key

    def department_code(self, text: str) -> str:
        """The department a code, a name or an alias names (seeds/department_aliases.csv); the
        text as written (normalised) when none."""
        key = normalise(text)
        if key in self.departments:
            return key
        return self._department_names.get(self._bare(text), key)

    # -- districts -------------------------------------------------------------------------
    def resolve_district(self, text: str, city_code: str, year: int | None) -> Resolution:
        key = normalise(text)
        if not key:
            return Resolution(None, say("district_empty"))
        candidates = self._district_names.get((city_code, key))
        if not candidates:
            stripped = self._strip_prefixes(key, city_code)
            candidates = self._district_names.get((city_code, stripped)) if stripped else None
        if not candidates:
            suggestions = self.suggest_districts(text, city_code)
            said = " / ".join(suggestions)
            city = self.cities.get(city_code, {}).get("name_zh", city_code)
            return Resolution(None, say("unknown_district", text=text, city=city,
                                        hint=f"; did you mean {said}?" if said else "",
                                        hint_zh=f"，是否为 {said}？" if said else ""))
        codes = {code for code, _ in candidates}
        if year is not None:
            valid = {code for code, since in candidates if self._bears(code, since, year)}
            if not valid:
                names = ", ".join(sorted(codes))
                return Resolution(None, say("district_not_then", text=text, codes=names,
                                            year=year))
            codes = valid
        if len(codes) > 1:
            return Resolution(None, say("district_ambiguous", text=text,
                                        codes=", ".join(sorted(codes))))
        return Resolution(next(iter(codes)))

    def _bears(self, code: str, since: date | None, year: int) -> bool:
        """Did the unit exist in `year` under this name (the version from `since`, or any
        version for a code or alias)?"""
        version = self.district(code, year)
        return version is not None and (since is None or version.valid_from == since)

    def programme_indicators(self, city: str, year: int) -> set[str]:
        """The indicators the city's programme framework holds in `year` (what it owes)."""
        return {code for code, first, last in self._framework.get(city, [])
                if first <= year and (last is None or year <= last)}

    def district(self, code: str, year: int | None) -> District | None:
        """The version of the unit valid in `year` (the latest without a year); None if the
        unit did not exist then."""
        versions = self.district_versions.get(code, [])
        if year is None:
            return versions[-1] if versions else None
        return next((d for d in reversed(versions) if d.valid_in(year)), None)

    def _strip_prefixes(self, key: str, city_code: str) -> str | None:
        city_name = normalise(self.cities.get(city_code, {}).get("name_zh", ""))
        for prefix in (*map(normalise, _PREFIXES), city_name):
            if prefix and key.startswith(prefix) and len(key) > len(prefix):
                key = key[len(prefix):]
        return key

    def suggest_districts(self, text: str, city_code: str, n: int = 3) -> list[str]:
        names = sorted({self.districts[c].name_zh for (city, _), entries in self._district_names.items()
                        if city == city_code for c, _ in entries})
        key = normalise(text)
        close = difflib.get_close_matches(key, names, n=n, cutoff=0.3)
        return close or [n_ for n_ in names if key and key[0] in n_][:n]

    # -- indicators ------------------------------------------------------------------------
    def resolve_indicator(self, text: str) -> Resolution:
        key = normalise(text)
        if not key:
            return Resolution(None, say("indicator_empty"))
        code = self._indicator_names.get(key)
        if code:
            return Resolution(code)
        close = difflib.get_close_matches(key, list(self._indicator_names), n=3, cutoff=0.5)
        names = [f"{self.indicators[self._indicator_names[c]].code} "
                 f"({self.indicators[self._indicator_names[c]].name_zh})" for c in close]
        said = " / ".join(dict.fromkeys(names))
        return Resolution(None, say("unknown_indicator", text=text,
                                    hint=f"; did you mean {said}?" if said else "",
                                    hint_zh=f"，是否为 {said}？" if said else ""))


@lru_cache(maxsize=4)
def load_reference(seeds_dir: Path = SEEDS_DIR) -> Reference:
    return Reference(seeds_dir)
