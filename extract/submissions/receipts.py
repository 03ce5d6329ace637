"""What a department gets back for each file: its receipt (.json for machines, .txt in Chinese
and English for people), written beside the archived original.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace

from common.messages import MESSAGES
from common.storage import Storage


@dataclass
class Receipt:
    file_name: str
    file_hash: str
    received_at: str
    status: str                      # loaded | rejected | duplicate
    message: str
    department_code: str | None = None
    city_code: str | None = None
    year: int | None = None
    layout: str | None = None        # long | wide
    template_version: str | None = None
    archived_path: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_ignored: int = 0
    # the first LISTED rejected records and layout rows, cell by cell; the rest counted by
    # reason in rejected_unlisted / ignored_unlisted ({column, reason, count, first}: the
    # reason with the cell's text elided, and where it first occurs). Every record's own
    # reason is in raw.submission_rows.
    rejected: list[dict] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)
    rejected_unlisted: list[dict] = field(default_factory=list)
    ignored_unlisted: list[dict] = field(default_factory=list)
    superseded: list[dict] = field(default_factory=list)
    restated_unchanged: int = 0
    totals: list[dict] = field(default_factory=list)
    neutralised: list[dict] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)   # who filled it in, contact, date, notes
    conflicts: list[str] = field(default_factory=list)  # file name vs header vs command line
    warnings: list[dict] = field(default_factory=list)  # accepted, but implausible by a rule
    # how each sheet was read: its layout, header rows and what each column is (see read_map)
    sheets: list[dict] = field(default_factory=list)
    # the bytes' sha256 when file_hash is not it (bytes sent again after being refused:
    # their file_hash is sha256~n)
    sha256: str | None = None

    def reject(self, entry: dict) -> None:
        """One more rejected record (counted by the caller): listed while there is room,
        else counted by its reason."""
        if len(self.rejected) < LISTED:
            self.rejected.append(entry)
        else:
            _tally(self.rejected_unlisted, entry.get("column"), entry["reason"],
                   [entry.get("value") or ""],
                   f"{entry['sheet']}!{entry.get('cell') or entry['row']}", 1)

    def counts_only(self) -> Receipt:
        """This receipt without its lines (the records listed, warnings, corrections, how
        each sheet was read): its counts, message and archive place. What a caller of a long
        intake keeps of each file once the whole receipt is written to the archive and to
        raw.submission_receipts (a national backlog's warnings alone were a gigabyte)."""
        return replace(self, **{name: [] for name in LINE_LISTS})

    def line(self) -> str:
        """One line for a person following a long intake: the file, its result, the message."""
        return f"{self.file_name}: {STATUS_ZH.get(self.status, self.status)} / {self.status}" \
               f" — {self.message}"

    def to_dict(self) -> dict:
        """The receipt's fields as they are (its lists hold plain dicts of JSON values):
        not dataclasses.asdict, whose deep copy of every warning and rejection line cost
        a third of intake at bench scale M."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_text(self) -> str:
        """The receipt a person reads, in Chinese and English."""
        lines = [
            "数据报送回执 Submission receipt",
            f"文件 File: {self.file_name}",
            f"文件指纹 SHA-256: {self.sha256 or self.file_hash}",
            f"接收时间 Received: {self.received_at}",
            f"部门 Department: {self.department_code or '-'}   城市 City: {self.city_code or '-'}"
            f"   年度 Year: {self.year or '-'}   版式 Layout: {self.layout or '-'}",
            f"结果 Result: {STATUS_ZH.get(self.status, self.status)} / {self.status}",
            f"说明 Message: {self.message}",
            f"读取记录 Records read: {self.rows_read} = 接收 accepted {self.rows_accepted}"
            f" + 退回 rejected {self.rows_rejected} + 忽略 ignored {self.rows_ignored}",
        ]
        if self.layout == "wide":
            lines.append("  (横表 wide layout: 每个区县单元格为一条记录 / one record per district cell)")
        for m in self.sheets:
            lines += ["", f"读取方式 How sheet '{m['sheet']}' was read: {m['layout']}, "
                          f"表头 header row {m['header']}"]
            lines += [f"  {letter}: {what}" for letter, what in m["columns"].items()]
        if self.rejected:
            lines += ["", "退回的记录 Rejected records (请修改后重新报送 / fix and send the file again):"]
            for r in self.rejected:
                at = r.get("fault_cell") or r["cell"]
                of = (f"（数值单元格 value cell {r['cell']}）"
                      if r["cell"] and at != r["cell"] else "")
                lines.append(f"  工作表 sheet {r['sheet']} 第 {r['row']} 行 row, 单元格 cell "
                             f"{at or '-'}{of}, 列 column {r['column'] or '-'}, 内容 text "
                             f"'{r['value']}': {r['reason']}")
        if self.rejected_unlisted:
            more = sum(t["count"] for t in self.rejected_unlisted)
            lines += ["", f"另有 {more} 条退回记录未逐条列出，按原因计数 {more} more rejected "
                          f"records, not listed one by one, counted by reason (首见 first at; "
                          f"'…' 为各单元格内容 stands for each cell's text):"]
            lines += [f"  {t['count']} × 列 column {t['column'] or '-'}, 首见 first at "
                      f"{t['first']}: {t['reason']}" for t in self.rejected_unlisted]
        if self.superseded:
            lines += ["", "更正的数值 Values this file corrects (the earlier version stays on record):"]
            for r in self.superseded:
                lines.append(f"  {r['indicator_code']} {r['district_code']} {r['year']}: "
                             f"{_fmt(r['earlier_value'])} → {_fmt(r['value'])} "
                             f"(原文件 earlier file {r['earlier_file']}, {r['earlier_received_at']})")
        if self.restated_unchanged:
            lines.append(f"与此前相同的数值 Values identical to the earlier version: "
                         f"{self.restated_unchanged}")
        if self.totals:
            lines += ["", "合计核对 Totals checked against the sum of the districts:"]
            for t in self.totals:
                lines.append(f"  工作表 sheet {t['sheet']} 单元格 cell {t['cell']}: {t['verdict']}")
        if self.neutralised:
            lines += ["", "已中和的公式 Formulas neutralised (stored as text, never run):"]
            for n in self.neutralised:
                lines.append(f"  工作表 sheet {n['sheet']} 单元格 cell {n['cell']} ({n['column']}):"
                             f" {n['text']}")
        held = [w for w in self.warnings if w.get("action") == "hold"]
        informed = [w for w in self.warnings if w.get("action") != "hold"]
        if held:
            lines += ["", "待核实，暂不发布 Held for review, not published until the coordinating "
                          "office confirms them (it may return them to you with a question):"]
            for w in held:
                lines.append(f"  工作表 sheet {w['sheet']} 单元格 cell {w['cell']} "
                             f"{w['indicator_code']} {w['district_code']} {w['year']}: "
                             f"{w['message']}")
        if informed:
            lines += ["", "合理性提示 Plausibility warnings (accepted and published; please check "
                          "these values):"]
            for w in informed:
                lines.append(f"  工作表 sheet {w['sheet']} 单元格 cell {w['cell']} "
                             f"{w['indicator_code']} {w['district_code']} {w['year']}: "
                             f"{w['message']}")
        if self.conflicts:
            lines += ["", "来源不一致 Where the file name and the file disagree:"]
            lines += [f"  {text}" for text in self.conflicts]
        if self.footer:
            lines += ["", "表尾信息 Footer (kept as written):"]
            lines += [f"  {text}" for text in self.footer]
        if self.ignored:
            lines += ["", "忽略的版式行 Ignored layout rows:"]
            for r in self.ignored:
                where = f"单元格 cell {r['cell']}" if r.get("cell") else f"第 {r['row']} 行 row"
                lines.append(f"  工作表 sheet {r['sheet']} {where}: {r['reason']}")
        if self.ignored_unlisted:
            more = sum(t["count"] for t in self.ignored_unlisted)
            lines += [f"另有 {more} 行版式行未逐条列出 {more} more layout rows, not listed "
                      f"one by one:"]
            lines += [f"  {t['count']} × 首见 first at {t['first']}: {t['reason']}"
                      for t in self.ignored_unlisted]
        return "\n".join(lines) + "\n"


STATUS_ZH = {"loaded": "已接收", "rejected": "已退回", "duplicate": "重复文件，未重复入库",
             "waiting": "暂未接收，留待下次处理", "skipped": "由另一进程处理"}
# a receipt's lists of lines, one entry per record, cell or warning (counts_only drops them)
LINE_LISTS = ("rejected", "ignored", "rejected_unlisted", "ignored_unlisted", "superseded",
              "totals", "neutralised", "footer", "conflicts", "warnings", "sheets")
# How many rejected records (and, apart, layout rows) a receipt lists one by one: a file of
# 100,000 bad rows had a 41 MB receipt listing each. The rest are counted by reason.
LISTED = 1000
# The cell's own texts, as a reason quotes them, are elided when rejections are counted by
# reason: '{text}' in English, “{text}” in Chinese.
QUOTES = (("'", "'"), ("“", "”"))


def elide(reason: str, texts: list[str]) -> str:
    """The reason without the record's texts it quotes: what rejections are counted by."""
    for text in texts:
        if text:
            for left, right in QUOTES:
                reason = reason.replace(f"{left}{text}{right}", f"{left}…{right}")
    return reason


def elide_sql(reason: str, texts: list[str]) -> str:
    """elide() as a DuckDB expression on the columns named."""
    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"
    for text in texts:
        for left, right in QUOTES:
            reason = (f"replace({reason}, {literal(left)} || coalesce({text}, '') || "
                      f"{literal(right)}, {literal(left + '…' + right)})")
    return reason


def _tally(tallies: list[dict], column: str | None, reason: str, texts: list[str],
           first: str, count: int) -> None:
    kind = elide(reason or "", texts)
    for t in tallies:
        if t["column"] == column and t["reason"] == kind:
            t["count"] += count
            return
    tallies.append({"column": column, "reason": kind, "count": count, "first": first})


def _fmt(value) -> str:
    return "—" if value is None else f"{value:g}"


def summary(receipt: Receipt) -> str:
    """The receipt's message: each count in English, then Chinese."""
    parts = [("summary_counts", {"accepted": receipt.rows_accepted,
                                 "rejected": receipt.rows_rejected,
                                 "ignored": receipt.rows_ignored})]
    if receipt.rejected_unlisted:
        parts.append(("summary_unlisted", {
            "listed": len(receipt.rejected),
            "more": sum(t["count"] for t in receipt.rejected_unlisted)}))
    if receipt.superseded:
        parts.append(("summary_corrected", {"count": len(receipt.superseded)}))
    mismatches = sum(t["mismatch"] for t in receipt.totals)
    if mismatches:
        parts.append(("summary_totals", {"count": mismatches}))
    if receipt.neutralised:
        parts.append(("summary_neutralised", {"count": len(receipt.neutralised)}))
    held = {(w["sheet"], w["cell"]) for w in receipt.warnings if w.get("action") == "hold"}
    informed = {(w["sheet"], w["cell"]) for w in receipt.warnings if w.get("action") != "hold"}
    if held:
        parts.append(("summary_held", {"count": len(held)}))
    if informed - held:
        parts.append(("summary_warned", {"count": len(informed - held)}))
    english = "; ".join(MESSAGES[key][0].format(**values) for key, values in parts)
    chinese = "；".join(MESSAGES[key][1].format(**values) for key, values in parts)
    return f"{english}. {chinese}"


def write_receipt(receipt: Receipt, archive: Storage, folder: str, stem: str = "receipt",
                  as_json: str | None = None) -> None:
    """The receipt's .json (`as_json` when it was encoded already, as landed) and .txt, in
    the archive's `folder`, each written whole."""
    # one line: json's C encoder (indent= falls back to the pure-Python one, 3 s of intake at
    # bench scale M); the receipt people read is the .txt beside it
    archive.write_text(f"{folder}/{stem}.json",
                       as_json or json.dumps(receipt.to_dict(), ensure_ascii=False))
    archive.write_text(f"{folder}/{stem}.txt", receipt.to_text())
