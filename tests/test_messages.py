"""Clerks can read everything (issue 30): every message intake can give a department is in the
catalogue (common/messages.py) in English and Chinese, and intake gives no other.

The catalogue is walked message by message; the intake's modules are read as code, and every
refusal they raise, every rejection or layout reason they give and every receipt message they
set must come from the catalogue (`say`, or a reason the catalogue made, passed on)."""
from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from common.messages import CJK, MESSAGES, fields, say, sql_format

ROOT = Path(__file__).resolve().parents[1]
# everything a clerk reads comes from these modules (open data speaks to engineers)
INTAKE = [ROOT / "common" / "reference.py", ROOT / "extract" / "layout.py",
          ROOT / "extract" / "numbers.py", ROOT / "extract" / "reading.py",
          ROOT / "extract" / "template.py", ROOT / "extract" / "verdicts.py",
          ROOT / "extract" / "xlsx.py",
          *sorted((ROOT / "extract" / "submissions").glob("*.py"))]
REFUSALS = {"SubmissionError", "FileRefused", "WorkbookError", "TemplateError"}
ENGLISH = re.compile(r"[A-Za-z]{3,}")


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_is_in_english_and_chinese_with_the_same_fields(key):
    en, zh = MESSAGES[key]
    names = {n for t in (en, zh) for _, n, _, _ in string.Formatter().parse(t) if n}
    en_names = {n for _, n, _, _ in string.Formatter().parse(en) if n}
    zh_names = {n for _, n, _, _ in string.Formatter().parse(zh) if n}
    # the Chinese may say a field its own way (what_zh, hint_zh), never leave one out
    assert {n.removesuffix("_zh") for n in zh_names} <= {n.removesuffix("_zh") for n in names}
    assert en_names - {n for n in en_names if n + "_zh" in zh_names} <= zh_names, key
    # (the English may quote a heading or a marker as the clerk writes it: 数值, 无, 2023年)
    assert ENGLISH.search(en), key
    assert CJK.search(zh) and len(CJK.findall(zh)) > len(ENGLISH.findall(zh)), key
    shown = say(key, **{n: f"<{n}>" for n in names})
    assert all(f"<{n}>" in shown for n in names), key
    template, order = sql_format(key)
    assert template.count("{}") == len(order) and set(order) == names


def _calls(tree) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _name(func) -> str:
    return func.id if isinstance(func, ast.Name) else (
        func.attr if isinstance(func, ast.Attribute) else "")


def _literal(node) -> bool:
    """Text written in place: a string or an f-string (a catalogue message is a call)."""
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(node.value))


@pytest.mark.parametrize("path", INTAKE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_intake_says_nothing_to_a_clerk_that_is_not_in_the_catalogue(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and \
                _name(node.exc.func) in REFUSALS and node.exc.args:
            arg = node.exc.args[0]
            ok = (isinstance(arg, ast.Call) and _name(arg.func) in ("say", "str")) or \
                isinstance(arg, ast.Name)
            if not ok:
                found.append(f"line {node.lineno}: raise {_name(node.exc.func)} with text")
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr in ("message", "reason")
                for t in node.targets) and _literal(node.value):
            found.append(f"line {node.lineno}: a message or reason written in place")
    for call in _calls(tree):
        name = _name(call.func)
        reason_at = {"Layout": 2, "RowVerdict": 3, "Resolution": 1}.get(name)
        if reason_at is not None and len(call.args) > reason_at and \
                _literal(call.args[reason_at]) and name != "Layout" or (
                    name == "Layout" and len(call.args) > 2 and _literal(call.args[2])):
            found.append(f"line {call.lineno}: {name} with a reason written in place")
        for kw in call.keywords:
            if kw.arg == "reason" and _literal(kw.value):
                found.append(f"line {call.lineno}: reason= written in place")
    assert not found, found


def test_every_reason_a_batch_of_clerk_files_gets_is_bilingual(tmp_path):
    """Every layout, every clerk file and the rule-by-rule file: each refusal, rejection and
    layout reason they get reads in Chinese too."""
    import csv

    from common.reference import load_reference
    from extract.submissions import SubmissionError, interpret
    from tests.clerk_files import LAYOUTS
    from tests.test_verdict_equivalence import EDGE_ROWS, HEADER, META

    ref = load_reference()
    paths = [f.make(tmp_path) for f in LAYOUTS]
    edge = tmp_path / "371000_housing_2023.csv"
    with open(edge, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([*META, HEADER, *EDGE_ROWS])
    paths.append(edge)
    reasons = []
    for path in paths:
        try:
            reasons += [v.reason for v in interpret(path, ref)[1] if v.reason]
        except SubmissionError as exc:
            reasons.append(str(exc))
    assert len(reasons) > 60
    assert [r for r in reasons if not CJK.search(r)] == []


def test_fields_are_listed_in_the_order_the_english_uses_them():
    assert fields("out_of_range") == ["value", "range", "indicator"]
