"""Generate the bundled sample data (department submissions + open-data payloads).

Run: .venv/bin/python scripts/generate_sample_data.py

Every value is synthetic except the city-level anchors below, which are the
figures reported or targeted in the source documents (see docs/sample-data.md).
Sum indicators are split across districts with the largest-remainder method, so
district values add up exactly to the anchored city figure; cumulative series
split each year's increment, so no district's cumulative value ever decreases.
The generator is deterministic (fixed seed): re-running it reproduces the same values
(.xlsx files differ only in the save time openpyxl embeds).
"""
from __future__ import annotations

import csv
import json
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "dbt_project" / "seeds"
OUT = ROOT / "data" / "sample"
YEARS = [2019, 2020, 2021, 2022, 2023]
CITY = "371000"
TEMPLATE_VERSION = "citycheck-long-1"

# Reporting units of Weihai, in the order departments list them.
DISTRICTS = ["371002", "371003", "371082", "371083", "371071", "371072", "371073"]
CENTRAL = {"371002", "371003", "371071", "371072", "371073"}

# City-level series per year. Values marked (reported) in docs/sample-data.md come from the seeds.
CITY_SERIES: dict[str, list[float]] = {
    "utility_tunnel_km": [22.4, 28.9, 34.2, 37.8, 40.6],           # 40.6 by 2023 reported (004)
    "green_building_star_area_cum": [120, 265, 418, 560, 702],
    "award_winning_projects": [6, 5, 7, 6, 8],
    "sponge_city_area_km2": [45.2, 55.0, 63.7, 71.3, 78.6],        # 78.6 by 2023 reported (004)
    "abandoned_mines_restored_cum": [118, 151, 156, 160, 163],
    "afforestation_10k_mu": [5.2, 6.3, 5.8, 5.5, 5.1],
    "rural_clean_heating_10k_households": [2.8, 3.62, 2.9, 2.1, 1.6],
    "coastal_walkway_km": [96.5, 148.0, 203.5, 215.0, 228.4],
    "new_parking_spaces": [3120, 3950, 4210, 3560, 3380],
    "pedestrian_bridges_cum": [2, 10, 11, 11, 12],                 # 12 by 2023 reported (004)
    "bottleneck_roads_opened_cum": [12, 21, 24, 27, 29],           # 21 to 2020 (002), 29 by 2023 (004)
    "old_estates_renovated_cum": [118, 170, 236, 298, 355],        # 170 (002), 355 (004)
    "urban_public_toilets_cum": [41, 69, 82, 94, 103],             # 69 to 2020 (002)
    "rural_public_toilets": [310, 402, 265, 180, 150],
    "pocket_parks_cum": [76, 194, 221, 240, 254],                  # 194 (002), 254 (004)
    "greenways_km_cum": [42.5, 73.8, 88.0, 101.2, 112.6],
    "night_economy_clusters": [6, 9, 12, 13, 15],
    "lifts_added_cum": [18, 46, 67, 88, 106],                      # 46 (002), 106 (004)
    "parking_projects_cum": [12, 21, 23, 25, 26],                  # 21 (002), 26 (004)
    "community_canteens": [20, 46, 58, 68, 76],                    # 46 (002), 76 (004)
    "city_reading_rooms": [18, 27, 35, 41, 46],                    # 46 by 2023 (004)
    "shared_parking_lots": [64, 105, 118, 126, 133],               # 105 to 2020 (002)
    "school_sports_facilities_open": [180, 227, 238, 246, 251],    # 227 to 2020 (002)
    "property_certificates_cleared_10k_cum": [12.4, 15.2, 16.1, 16.6, 16.9],  # 15.2 (002), 16.9 (004)
    "idle_projects_resolved_cum": [160, 217, 220, 221, 222],       # 217 (002), 222 (004)
    # city-level only indicators
    "land_per_gdp_decrease_pct": [19.1, 22.6, 24.0, 25.3, 26.1],
    "gdp_per_mu_construction_land": [33.2, 34.9, 38.1, 40.6, 42.0],
    "coastal_walkway_works_pct": [38.0, 66.5, 100.0, 100.0, 100.0],
}

# Rates: city level around which districts are drawn (population-weighted roll-up).
RATE_CENTRE: dict[str, list[float]] = {
    "sponge_city_share_pct": [18.5, 26.2, 29.8, 33.5, 36.9],
    "black_odorous_water_eliminated_pct": [78.0, 90.5, 95.0, 97.5, 98.8],
    "sewage_treatment_rate_pct": [95.1, 97.0, 97.9, 98.3, 98.6],
    "bus_stop_500m_coverage_pct": [94.0, 98.8, 99.2, 99.5, 99.7],
    "property_fee_payment_rate_pct": [85.9, 87.2, 87.5, 87.8, 88.0],   # 87.2 (002), 88 (004)
    "owner_satisfaction_pct": [89.6, 90.5, 91.0, 91.6, 92.0],          # 90.5 (002), 92 (004)
    "owners_committee_coverage_pct": [90.2, 93.8, 96.0, 97.9, 99.0],   # 93.8 (002), 99 (004)
    "property_management_coverage_pct": [98.6, 100.0, 100.0, 100.0, 100.0],  # 100 (002, 004)
    "city_case_resolution_pct": [98.8, 99.1, 99.4, 99.5, 99.7],        # 99.7 in 2023 (004)
}

# Fixed 2020 district values that make specific targets met or missed (tests rely on them).
PINNED_2020 = {
    "sewage_treatment_rate_pct": {"371002": 98.6, "371003": 97.4, "371071": 98.9, "371072": 98.3,
                                  "371073": 98.1, "371082": 92.3, "371083": 90.4},
    "black_odorous_water_eliminated_pct": {"371002": 96.0, "371003": 92.5, "371071": 100.0,
                                           "371072": 94.0, "371073": 91.0, "371082": 72.5,
                                           "371083": 68.0},
    "bus_stop_500m_coverage_pct": {"371002": 100.0, "371003": 100.0, "371071": 100.0,
                                   "371072": 100.0, "371073": 96.5, "371082": 97.0,
                                   "371083": 96.0},
}

# Open data (served by the demo portal): resident and registered population (10k people), 2019.
POPULATION_2019 = {"371002": 60.1, "371003": 54.5, "371082": 71.4, "371083": 52.3,
                   "371071": 17.8, "371072": 19.2, "371073": 8.3}          # sums to 283.6 (002)
REGISTERED_2019 = {"371002": 53.0, "371003": 56.9, "371082": 66.2, "371083": 55.1,
                   "371071": 9.6, "371072": 11.2, "371073": 5.0}           # sums to 257.0 (002)
REGISTERED_URBANISATION = [59.80, 60.72, 61.50, 62.10, 62.80]              # 60.72 in 2020 (002)

# Which departments send .xlsx; the rest send UTF-8 .csv. Both use the same layout.
XLSX_DEPARTMENTS = {"housing", "natural_resources", "water", "commerce", "culture_tourism",
                    "city_management"}
OPEN_DATA_INDICATORS = {"resident_population_10k", "registered_population_10k",
                        "registered_urbanisation_rate_pct", "air_quality_good_days"}

HEADER = ["指标代码 indicator_code", "指标名称 indicator_name", "区县代码 district_code",
          "区县名称 district_name", "数值 value", "单位 unit", "质量标记 quality_flag", "备注 note"]


def q(value: float, decimals: int) -> float:
    exp = Decimal(1).scaleb(-decimals)
    rounded = Decimal(str(value)).quantize(exp, rounding=ROUND_HALF_UP)
    return int(rounded) if decimals == 0 else float(rounded)


def split_exact(total: float, shares: list[float], decimals: int) -> list[float]:
    """Split `total` by `shares` into values with `decimals` places that add up exactly."""
    scale = 10 ** decimals
    units = int(round(total * scale))
    raw = [units * s / sum(shares) for s in shares]
    floors = [int(x) for x in raw]
    rest = units - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: raw[i] - floors[i], reverse=True)
    for i in order[:rest]:
        floors[i] += 1
    return [f // scale if decimals == 0 else f / scale for f in floors]


def main() -> None:
    rng = random.Random(20261121)
    indicators = {r["indicator_code"]: r for r in csv.DictReader(open(SEEDS / "indicators.csv"))}
    districts = {r["district_code"]: r for r in csv.DictReader(open(SEEDS / "districts.csv"))}
    members = {   # the programme's indicators in the sample's years, in catalogue order
        r["indicator_code"] for r in csv.DictReader(open(SEEDS / "framework_items.csv"))
        if r["programme_code"] == "weihai_refined_city" and int(r["first_year"]) <= 2023}
    weihai = [code for code in indicators if code in members]

    values: dict[tuple[str, str, int], float] = {}  # (indicator, district, year) -> value
    for code in weihai:
        ind = indicators[code]
        dec = int(ind["decimals"])
        if code in OPEN_DATA_INDICATORS or ind["required_every_year"] != "true":
            continue   # open data feeds these; the others are one-off targets, not owed yearly
        if ind["reporting_level"] == "city":
            for y, v in zip(YEARS, CITY_SERIES[code], strict=True):
                values[(code, CITY, y)] = q(v, dec)
        elif ind["aggregation"] == "sum":
            shares = [rng.uniform(0.5, 2.0) for _ in DISTRICTS]
            series = CITY_SERIES[code]
            if ind["measure"] == "cumulative":
                prev = [0.0] * len(DISTRICTS)
                last_total = 0.0
                for y, total in zip(YEARS, series, strict=True):
                    inc = split_exact(round(total - last_total, dec), shares, dec)
                    prev = [q(a + b, dec) for a, b in zip(prev, inc, strict=True)]
                    for d, v in zip(DISTRICTS, prev, strict=True):
                        values[(code, d, y)] = v
                    last_total = total
            else:
                for y, total in zip(YEARS, series, strict=True):
                    jitter = [s * rng.uniform(0.8, 1.2) for s in shares]
                    for d, v in zip(DISTRICTS, split_exact(total, jitter, dec), strict=True):
                        values[(code, d, y)] = v
        else:  # rates drawn around the city figure
            offsets = {d: rng.uniform(-2.5, 2.5) for d in DISTRICTS}
            for y, centre in zip(YEARS, RATE_CENTRE[code], strict=True):
                for d in DISTRICTS:
                    v = centre + offsets[d] * (1.0 if centre < 99 else 0.1)
                    if y == 2020 and code in PINNED_2020:
                        v = PINNED_2020[code][d]
                    if centre >= 100:
                        v = 100.0
                    values[(code, d, y)] = q(min(100.0, max(0.0, v)), dec)

    target = OUT / "submissions"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*"):
        old.unlink()
    write_submissions(values, indicators, districts, CITY)
    write_correction(values)
    write_portal(rng, districts)
    write_zibo(rng, indicators, districts)


# Zibo (淄博市, seed 003): its programme's rounds 2020-2022 (seeds/programmes.csv). 2020 and
# 2021 are complete; 2022 is still being collected: the education bureau has sent nothing,
# the commerce bureau's file lacks one unit, and one of the housing bureau's figures breaks a
# plausibility rule that holds it for the office's review (张店区's cumulative utility tunnels
# fall from 4.5 km in 2021 to 0.49: a misplaced decimal point; 4.9 was meant).
ZIBO = "370300"
ZIBO_YEARS = [2020, 2021, 2022]
ZIBO_DISTRICTS = ["370302", "370303", "370304", "370305", "370306", "370321", "370322",
                  "370323", "L370301", "L370302", "L370303"]
ZIBO_SERIES: dict[str, list[float]] = {
    "utility_tunnel_km": [41.2, 46.5, 50.3],               # target >= 40 km in 2020 (003)
    "greenways_km_cum": [96.0, 128.5, 152.0],
    "night_economy_clusters": [14, 19, 23],
    "street_gardens_new": [38, 41, 36],                    # >= 3 per district a year (003)
    "vertical_greening_new": [25, 27, 24],                 # >= 2 per district a year (003)
    "primary_school_places_new": [8100, 16300, 24800],     # 27,225 planned 2019-2022 (003)
    "kindergarten_places_new": [4900, 9800, 14600],        # 16,290 planned (003)
    "elderly_care_beds_new": [1300, 2600, 3900],           # 4,500 planned (003)
    # city-level figures
    "resident_urbanisation_rate_pct": [71.8, 72.9, 73.6],  # target >= 73 in 2021 (003)
    "builtup_green_coverage_pct": [44.2, 45.1, 45.6],      # target >= 45 in 2021 (003)
    "lighting_installed_rate_pct": [100.0, 100.0, 100.0],
    "lighting_on_rate_pct": [99.6, 100.0, 100.0],
    "lighting_intact_rate_pct": [95.4, 96.1, 96.8],
    "street_deep_cleaning_pct": [100.0, 100.0, 100.0],
    "owners_committee_established_pct": [72.5, 81.0, 85.3],  # target >= 80 in 2021 (003)
}
ZIBO_RATES = {"sponge_city_share_pct": [28.5, 32.0, 35.6]}
ZIBO_XLSX = {"housing", "city_management"}
ZIBO_NOT_SENT = {("education", 2022)}
ZIBO_LEFT_OUT = {("night_economy_clusters", "L370303", 2022)}
ZIBO_HELD = ("utility_tunnel_km", "370303", 2022)


def write_zibo(rng: random.Random, indicators, districts) -> None:
    values: dict[tuple[str, str, int], float] = {}
    for code in [*ZIBO_SERIES, *ZIBO_RATES]:
        ind = indicators[code]
        dec = int(ind["decimals"])
        if ind["reporting_level"] == "city":
            for y, v in zip(ZIBO_YEARS, ZIBO_SERIES[code], strict=True):
                values[(code, ZIBO, y)] = q(v, dec)
        elif code in ZIBO_RATES:
            offsets = {d: rng.uniform(-2.0, 2.0) for d in ZIBO_DISTRICTS}
            for y, centre in zip(ZIBO_YEARS, ZIBO_RATES[code], strict=True):
                for d in ZIBO_DISTRICTS:
                    values[(code, d, y)] = q(centre + offsets[d], dec)
        else:
            shares = [rng.uniform(0.6, 1.6) for _ in ZIBO_DISTRICTS]
            series = ZIBO_SERIES[code]
            if ind["measure"] == "cumulative":
                prev, last_total = [0.0] * len(ZIBO_DISTRICTS), 0.0
                for y, total in zip(ZIBO_YEARS, series, strict=True):
                    inc = split_exact(round(total - last_total, dec), shares, dec)
                    prev = [q(a + b, dec) for a, b in zip(prev, inc, strict=True)]
                    for d, v in zip(ZIBO_DISTRICTS, prev, strict=True):
                        values[(code, d, y)] = v
                    last_total = total
            else:
                for y, total in zip(ZIBO_YEARS, series, strict=True):
                    jitter = [sh * rng.uniform(0.85, 1.15) for sh in shares]
                    for d, v in zip(ZIBO_DISTRICTS, split_exact(total, jitter, dec),
                                    strict=True):
                        values[(code, d, y)] = v
    for key in ZIBO_LEFT_OUT:
        del values[key]
    code, district, year = ZIBO_HELD
    values[(code, district, year)] = q(values[(code, district, year)] / 10, 2)
    sent = {k: v for k, v in values.items()
            if (indicators[k[0]]["department_code"], k[2]) not in ZIBO_NOT_SENT}
    write_submissions(sent, indicators, districts, ZIBO, xlsx=ZIBO_XLSX)


# A re-submission in the wide layout (indicators as rows, districts as columns), as the water
# bureau would send it: it restates every district's 2022 sewage-treatment rate and corrects
# one, so the warehouse keeps both versions and the scorecard flags the revised value.
CORRECTION = ("sewage_treatment_rate_pct", 2022, "371083", 0.4)
WIDE_NAMES = {"371002": "环翠区", "371003": "文登区", "371082": "荣成市", "371083": "乳山市",
              "371071": "高区", "371072": "经区", "371073": "临港区"}


def write_correction(values) -> None:
    code, year, district, delta = CORRECTION
    row = ["城市污水处理率", "%"]
    for d in WIDE_NAMES:
        v = values[(code, d, year)]
        row.append(round(v + delta, 1) if d == district else v)
    path = OUT / "submissions" / f"{CITY}_water_{year}_correction.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([
            [f"威海市{year}年城市污水处理率（更正）"],
            ["填报单位：", "市水务局"], ["年度：", f"{year}年"], ["城市：", "威海市"],
            ["指标名称", "单位", *WIDE_NAMES.values()],
            row])
    print(f"wrote the correction {path.name}")


def write_submissions(values, indicators, districts, city: str,
                      xlsx: set[str] = XLSX_DEPARTMENTS) -> None:
    target = OUT / "submissions"
    by_file: dict[tuple[str, int], list[list]] = {}
    for (code, d, y), v in sorted(values.items()):
        ind = indicators[code]
        dist = districts[d]
        by_file.setdefault((ind["department_code"], y), []).append(
            [code, ind["name_zh"], d, dist["name_zh"], v, ind["unit"], "", ""])
    for (dept, year), rows in sorted(by_file.items()):
        meta = [["填报部门 Department", dept], ["城市 City", city], ["年度 Year", year],
                ["模板版本 Template version", TEMPLATE_VERSION], []]
        name = f"{city}_{dept}_{year}"
        if dept in xlsx:
            wb = openpyxl.Workbook()
            ws = wb.active
            ws.title = "填报表"
            for row in meta + [HEADER] + rows:
                ws.append(row)
            wb.save(target / f"{name}.xlsx")
        else:
            with open(target / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(meta + [HEADER] + rows)
    print(f"wrote {len(by_file)} submission files of {city} with {len(values)} values to {target}")


def write_portal(rng: random.Random, districts) -> None:
    portal = OUT / "portal"
    portal.mkdir(parents=True, exist_ok=True)
    # 1. Statistics bureau: paginated JSON API with Chinese field names.
    records = []
    for i, y in enumerate(YEARS):
        for d in DISTRICTS:
            growth = 1 + 0.004 * i * (1 if d in CENTRAL else -0.5)
            records.append({"地区": districts[d]["name_zh"], "年份": y,
                            "常住人口（万人）": q(POPULATION_2019[d] * growth, 1),
                            "户籍人口（万人）": q(REGISTERED_2019[d] * (1 - 0.002 * i), 1)})
    (portal / "statistics_population.json").write_text(
        json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    # 2. Environmental monitoring: a CKAN datastore resource.
    aq = []
    for y in YEARS:
        for d in DISTRICTS:
            aq.append({"_id": len(aq) + 1, "district_name": districts[d]["name_zh"],
                       "district_code": d, "year": str(y),
                       "good_days": int(rng.uniform(318, 352))})
    (portal / "ckan_air_quality.json").write_text(
        json.dumps(aq, ensure_ascii=False, indent=1), encoding="utf-8")
    # 3. Statistical bulletin: a GBK-encoded CSV download (city level).
    with open(portal / "bulletin_urbanisation.csv", "w", newline="", encoding="gbk") as fh:
        w = csv.writer(fh)
        w.writerow(["统计年度", "地区", "户籍人口城镇化率(%)"])
        for y, v in zip(YEARS, REGISTERED_URBANISATION, strict=True):
            w.writerow([f"{y}年", "威海市", f"{v:.2f}"])
    print(f"wrote open-data payloads to {portal}")


if __name__ == "__main__":
    main()
