"""Reading numbers and years as departments write them.

`1,234.5`, full-width `１２３`, `12.5%`, `约30`, numbers stored as text; missing written as
`—`, `-`, `/`, `无` or left blank (missing, never zero); years as `2023年`.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

MISSING_MARKERS = {"", "-", "--", "—", "——", "–", "－", "/", "无", "空", "暂无", "n/a", "na",
                   "null", "none", "nan", "#n/a", "…", "..."}
_APPROX = ("约", "大约", "近", "约为", "~", "≈")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_YEAR = re.compile(r"^(\d{4})(年|年度)?$")


@dataclass(frozen=True)
class ParsedNumber:
    value: float | None
    is_missing: bool = False
    is_estimate: bool = False
    error: str | None = None


def clean(text: object) -> str:
    """A cell as text: full-width forms made half-width (NFKC), outer spaces removed."""
    if text is None:
        return ""
    kind = type(text)
    if kind is str:
        return text.strip() if text.isascii() else unicodedata.normalize("NFKC", text).strip()
    if kind is int:
        return str(text)
    if kind is float and math.isnan(text):
        return ""
    return unicodedata.normalize("NFKC", str(text)).strip()


def parse_number(raw: object) -> ParsedNumber:
    if isinstance(raw, bool):
        return ParsedNumber(None, error=f"'{raw}' is not a number")
    if isinstance(raw, (int, float)) and not (isinstance(raw, float) and math.isnan(raw)):
        if isinstance(raw, float) and math.isinf(raw):
            return ParsedNumber(None, error="value is infinite")
        return ParsedNumber(float(raw))
    text = clean(raw)
    if text.lower() in MISSING_MARKERS:
        return ParsedNumber(None, is_missing=True)
    estimate = False
    for prefix in _APPROX:
        if text.startswith(prefix):
            text, estimate = text[len(prefix):].strip(), True
            break
    body = text.replace(",", "").replace(" ", "")
    if body.endswith("%"):
        body = body[:-1]
    if _NUMBER.match(body):
        return ParsedNumber(float(body), is_estimate=estimate)
    return ParsedNumber(None, error=f"'{clean(raw)}' is not a number")


def parse_year(raw: object) -> int | None:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return int(raw) if float(raw).is_integer() and 1900 <= raw <= 2100 else None
    m = _YEAR.match(clean(raw).replace(" ", ""))
    if m and 1900 <= int(m.group(1)) <= 2100:
        return int(m.group(1))
    return None
