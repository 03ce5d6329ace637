"""Reading numbers and years as departments write them.

A figure is read only when the whole cell parses under one grammar (docs/submission-format.md,
"The number grammar"); anything else is rejected quoting the text, never cut down to the digits
it holds:

    figure   := [approx] [sign] digits [ "." digits ] [ [" "] "%" ]   (or [sign] "." digits …)
    approx   := 约 | 大约 | 近 | 约为 | ~ | ≈        (the figure is then an estimate)
    digits   := 1–3 digits ("," 3 digits)+  |  digits          (commas only between thousands)

Full-width forms are read as their ASCII (`１２３`, `１，０００．５`), a minus sign (−) as "-";
nothing else is translated: a footnote mark (¹, ①) after a figure makes it no figure. A % sign is
read only for an indicator measured in %. Missing is written `—`, `-`, `/`, `无` … (missing,
never zero); left blank, a value is not reported. Excel's error values (#DIV/0!, #N/A …) are
errors, not missing. Years as `2023` or `2023年`.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

MISSING_MARKERS = {"", "-", "--", "—", "——", "–", "－", "/", "无", "空", "暂无", "n/a", "na",
                   "null", "none", "nan", "…", "..."}
# What Excel shows for a formula that failed: an error, never a figure nor "missing"
EXCEL_ERRORS = {"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#SPILL!",
                "#CALC!", "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!",
                "#UNKNOWN!"}
_APPROX = ("约", "大约", "近", "约为", "~", "≈")
# the grammar above, as one regular expression (RE2 and Python alike: verdicts.py runs it in
# DuckDB)
FIGURE = r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d*)?( ?%)?|[+-]?\.\d+( ?%)?"
_FIGURE = re.compile(f"^(?:{FIGURE})$")
# 12,5 or 3,14159: a comma that is no thousands separator, likely a decimal comma
DECIMAL_COMMA = r"[+-]?\d+,(\d{1,2}|\d{4,})"
_DECIMAL_COMMA = re.compile(f"^(?:{DECIMAL_COMMA})$")
_YEAR = re.compile(r"^(\d{4})(年|年度)?$")
# full-width ASCII forms (U+FF01-U+FF5E) and the spaces and minus signs that stand for ASCII:
# the only characters a figure's text is translated from
_FIGURE_FORMS = {**{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)},
                 0x3000: 0x20, 0x00A0: 0x20, 0x2212: 0x2D}


@dataclass(frozen=True)
class ParsedNumber:
    value: float | None
    is_missing: bool = False
    is_estimate: bool = False
    error: str | None = None
    percent: bool = False      # written with a % sign: read only for an indicator in %


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


def figure_text(raw: object) -> str:
    """A value cell as text for the number grammar: full-width forms, odd spaces and the minus
    sign made ASCII, outer space removed; nothing else changed (NFKC would turn a footnote
    mark into a digit: 12.5① into 12.51)."""
    if raw is None:
        return ""
    kind = type(raw)
    if kind is str:
        return (raw if raw.isascii() else raw.translate(_FIGURE_FORMS)).strip()
    if kind is int:
        return str(raw)
    if kind is float and math.isnan(raw):
        return ""
    return str(raw).strip()


def approx_body(text: str) -> tuple[str, bool]:
    """(the figure without its approximation prefix, whether it had one)."""
    for prefix in _APPROX:
        if text.startswith(prefix):
            return text[len(prefix):].strip(), True
    return text, False


def parse_number(raw: object) -> ParsedNumber:
    """A cell's figure under the grammar (module docstring). A figure written with a % sign
    says so (`percent`): the caller, who knows the indicator's unit, decides."""
    from common.messages import say

    if isinstance(raw, bool):
        return ParsedNumber(None, error=say("not_a_number", text=raw))
    if isinstance(raw, (int, float)) and not (isinstance(raw, float) and math.isnan(raw)):
        if isinstance(raw, float) and math.isinf(raw):
            return ParsedNumber(None, error=say("value_infinite"))
        return ParsedNumber(float(raw))
    text = figure_text(raw)
    if text.lower() in MISSING_MARKERS:
        return ParsedNumber(None, is_missing=True)
    if text in EXCEL_ERRORS:
        return ParsedNumber(None, error=say("error_value", error=text))
    body, estimate = approx_body(text)
    if _FIGURE.match(body):
        return ParsedNumber(float(body.rstrip("%").rstrip().replace(",", "")),
                            is_estimate=estimate, percent=body.endswith("%"))
    if _DECIMAL_COMMA.match(body):
        return ParsedNumber(None, error=say("decimal_comma", text=text))
    return ParsedNumber(None, error=say("not_a_number", text=text))


def parse_year(raw: object) -> int | None:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return int(raw) if float(raw).is_integer() and 1900 <= raw <= 2100 else None
    m = _YEAR.match(clean(raw).replace(" ", ""))
    if m and 1900 <= int(m.group(1)) <= 2100:
        return int(m.group(1))
    return None
