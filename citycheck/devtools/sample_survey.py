"""The synthetic resident survey in data/sample/surveys (seed 001's 城市人居环境满意度: safety,
convenience, natural and cultural environment, mobility), written reproducibly:
`python -m citycheck.devtools.sample_survey`. Respondents per district differ as a real
survey's do; 临港区's 24 are fewer than the minimum (30): its estimates are suppressed."""
from __future__ import annotations

import csv
import random

from common.config import SAMPLE_DIR
from extract.surveys import ITEMS

# district name as the file writes it -> (respondents, how satisfied on each item: the chance
# of answering 4 or 5)
DISTRICTS = {"环翠区": (220, (0.86, 0.83, 0.88, 0.74, 0.66)),
             "文登区": (180, (0.88, 0.76, 0.90, 0.70, 0.61)),
             "荣成市": (200, (0.90, 0.72, 0.92, 0.68, 0.58)),
             "乳山市": (160, (0.89, 0.70, 0.91, 0.66, 0.55)),
             "高区": (90, (0.84, 0.85, 0.83, 0.76, 0.70)),
             "经区": (80, (0.83, 0.81, 0.82, 0.72, 0.68)),
             "临港区": (24, (0.80, 0.62, 0.86, 0.60, 0.50))}


def answer(rng: random.Random, satisfied: float) -> str:
    if rng.random() < 0.03:
        return ""                                    # not answered
    if rng.random() < satisfied:
        return rng.choice("445")
    return rng.choice("1233")


def main() -> None:
    rng = random.Random(2023)
    folder = SAMPLE_DIR / "surveys"
    folder.mkdir(exist_ok=True)
    path = folder / "371000_survey_2023.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerows([["问卷 Survey", "威海市城市人居环境满意度调查（样例）"],
                       ["城市 City", "371000"], ["年度 Year", "2023"], [],
                       ["受访者编号 respondent_id", "区县 district", "权重 weight",
                        *[f"{zh} {en}" for en, zh in ITEMS.items()]]])
        n = 0
        for district, (people, chances) in DISTRICTS.items():
            for _ in range(people):
                n += 1
                weight = round(rng.uniform(0.6, 1.8), 3)
                out.writerow([f"R{n:05d}", district, weight,
                              *[answer(rng, p) for p in chances]])
    print(f"{path}: {n} respondents")


if __name__ == "__main__":
    main()
