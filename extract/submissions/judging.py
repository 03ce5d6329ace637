"""Judging a batch's records together, as SQL on the batch's DuckDB connection (the warehouse
file, or the in-process one PostgreSQL's landing fills with the earlier rows it needs):
their verdicts (extract/verdicts.py), which earlier values they correct, which break a
plausibility rule, and which would withdraw a figure without a reason.
"""
from __future__ import annotations

import pandas as pd

from common.messages import say, sql_format
from common.reference import Reference
from extract.submissions.receipts import LISTED, Receipt, elide_sql
from extract.submissions.records import fault_cell
from extract.verdicts import Batch

# the texts of a record that a reason may quote
CELL_TEXTS = ["value_text", "indicator_text", "district_text", "year_text", "unit_text",
              "flag_text"]


def judge(con, landings: list, ref: Reference) -> bool:
    """Give every record of the batch its verdict at once (extract/verdicts.py), into the
    temp table incoming_rows; count each file's verdicts on its receipt. False when the
    batch has no rows."""
    batch = Batch()
    for x in landings:
        if x.reading is not None and x.reading.entries:
            batch.add(x.landing_id, x.reading.ctx, x.reading.entries, x.reading.blocks,
                      x.item.received_at)
    if not batch.files:
        return False
    batch.judge(con, ref)
    # a file's rows are keyed by its landing: its sha256, or sha256~n when the same bytes
    # are read again after part of them was refused
    by_hash = {x.landing_id: x for x in landings}
    for digest, totals in batch.totals.items():
        by_hash[digest].receipt.totals = totals
    for digest, status, n in con.execute(
            "select file_hash, status, count(*) from incoming_rows group by all").fetchall():
        r = by_hash[digest].receipt
        r.rows_read += n
        setattr(r, f"rows_{status}", getattr(r, f"rows_{status}") + n)
    # the first LISTED rejected records and layout rows of each file, cell by cell; the rest
    # counted by reason in SQL (a file of 100,000 bad rows: a 41 MB receipt before)
    numbered = ("(select *, row_number() over (partition by file_hash, status "
                "order by record_number) as nth from incoming_rows "
                "where status <> 'accepted')")
    for digest, number, sheet, row, cell, status, reason, column in con.execute(
            "select file_hash, record_number, sheet_name, row_number, cell, status, reason, "
            f"error_column from {numbered} where nth <= $listed "
            "order by file_hash, record_number", {"listed": LISTED}).fetchall():
        x = by_hash[digest]
        if status == "ignored":
            x.receipt.ignored.append({"sheet": sheet, "row": row, "cell": cell,
                                      "reason": reason})
            continue
        entry = x.reading.entries[number - 1]
        fault = fault_cell(entry, column, reason) or cell
        x.receipt.rejected.append({"sheet": sheet, "row": row, "cell": cell,
                                   "fault_cell": fault, "column": column, "reason": reason,
                                   "value": entry.cells.get(column, "") if column else ""})
    for digest, status, column, reason, first, n in con.execute(
            "select file_hash, status, error_column, "
            f"{elide_sql('reason', CELL_TEXTS)} as kind, "
            "arg_min(sheet_name || '!' || coalesce(cell, cast(row_number as text)), "
            "record_number), count(*) "
            f"from {numbered} where nth > $listed group by all "
            "order by file_hash, status, count(*) desc, kind",
            {"listed": LISTED}).fetchall():
        receipt = by_hash[digest].receipt
        tallies = receipt.ignored_unlisted if status == "ignored" else receipt.rejected_unlisted
        tallies.append({"column": column, "reason": reason, "count": n, "first": first})
    return True


def superseded(con, receipts: dict[str, Receipt]) -> list[tuple[str, int, str]]:
    """Which accepted values of the batch replace a different value that arrived earlier:
    from any source already in the warehouse, or from a file of the same batch received
    before. Fills each receipt's `superseded` and `restated_unchanged`, and returns the
    records that would replace a figure with a missing marker and give no reason (file hash,
    record number, the reason they are rejected)."""
    rows = con.execute("""
        with incoming as (
            select r.file_hash, r.record_number, r.indicator_code, r.district_code, r.year,
                   r.value, r.sheet_name, r.cell, f.received_at, f.original_name,
                   r.is_missing and coalesce(trim(r.note_text), '') = '' as unexplained
            from incoming_rows as r join incoming_files as f using (file_hash)
            where r.status = 'accepted'
        ),
        keys as (select distinct indicator_code, district_code, year from incoming),
        -- every earlier version that is accepted whatever the batch holds
        settled as (
            select r.indicator_code, r.district_code, r.year, r.value,
                   f.original_name as origin, f.received_at
            from raw.submission_rows as r
            -- a semi join, not (a, b, c) in (select ...): 5x faster on a national warehouse
            semi join keys using (indicator_code, district_code, year)
            join raw.submission_files as f using (file_hash)
            where r.status = 'accepted' and f.status = 'loaded'
            union all
            select indicator_code, district_code, year, value, original_name, received_at
            from incoming where not unexplained
            union all
            select o.indicator_code, o.district_code, o.year, o.value,
                   'open data: ' || o.source_name, f.fetched_at
            from raw.open_data_observations as o
            semi join keys using (indicator_code, district_code, year)
            join raw.open_data_fetches as f using (fetch_id)
            where o.status = 'accepted' and f.status = 'loaded'
        ),
        -- an unexplained missing marker of the batch is refused when the latest settled
        -- version before it is a figure; the rest are versions for the files after them,
        -- so that a batch judges each file as if it had landed alone, in its turn
        refused as (
            select i.file_hash, i.record_number
            from incoming as i
            join settled as e using (indicator_code, district_code, year)
            where i.unexplained and e.received_at < i.received_at
            group by i.file_hash, i.record_number
            having arg_max({'value': e.value}, e.received_at).value is not null
        ),
        earlier as (
            select * from settled
            union all
            select indicator_code, district_code, year, value, original_name, received_at
            from incoming anti join refused using (file_hash, record_number)
            where unexplained
        ),
        latest as (   -- the whole latest row (arg_max of a bare value skips nulls)
            select i.file_hash, i.record_number,
                   arg_max({'value': e.value, 'origin': e.origin,
                            'received_at': e.received_at}, e.received_at) as l
            from incoming as i
            join earlier as e using (indicator_code, district_code, year)
            where e.received_at < i.received_at
            group by i.file_hash, i.record_number
        )
        select i.file_hash, i.indicator_code, i.district_code, i.year, i.value, l.l.value,
               l.l.origin, strftime(l.l.received_at, '%Y-%m-%d %H:%M'),
               i.value is not distinct from l.l.value, i.sheet_name, i.cell,
               i.record_number, i.unexplained
        from incoming as i
        join latest as l using (file_hash, record_number)
        order by i.file_hash, i.sheet_name, i.indicator_code, i.district_code, i.year
    """).fetchall()
    withdrawn = []
    for (digest, ind, dist, year, value, old, origin, when, same, sheet, cell, record,
         unexplained) in rows:
        receipt = receipts[digest]
        if same:
            receipt.restated_unchanged += 1
        elif unexplained and old is not None:
            withdrawn.append((digest, record, say("withdrawal_refused", earlier=f"{old:g}",
                                                  origin=origin, when=when)))
        else:
            receipt.superseded.append({
                "indicator_code": ind, "district_code": dist, "year": year, "value": value,
                "earlier_value": old, "earlier_file": origin, "earlier_received_at": when,
                "sheet": sheet, "cell": cell})
    return withdrawn


def warn(con, ref: Reference, receipts: dict[str, Receipt]) -> None:
    """Accepted values that break a plausibility rule (seeds/plausibility_rules.csv) stay
    accepted and are flagged: one row each in raw.submission_warnings, in the batch's
    transaction, and a line on the file's receipt. The rule's action says what follows: hold
    (the value waits for the office's review and is not published until confirmed) or inform
    (published with the warning). Compared with the latest value of the year before (from any
    source, this batch included) and with the city's value that year, as known when the file
    arrived."""
    if not ref.plausibility_rules:
        return
    con.register("plausibility_rules", pd.DataFrame(ref.plausibility_rules))
    try:
        con.execute("""
            insert into raw.submission_warnings by name
            with incoming as (
                select r.file_hash, r.record_number, r.sheet_name, r.cell, r.indicator_code,
                       r.district_code, r.year, r.value, f.city_code, f.received_at
                from incoming_rows as r join incoming_files as f using (file_hash)
                semi join plausibility_rules as p using (indicator_code)
                where r.status = 'accepted' and r.value is not null
            ),
            wanted as (  -- the figures compared with: the year before's, the city's
                select distinct indicator_code, district_code, year - 1 as year from incoming
                union
                select distinct indicator_code, city_code, year from incoming
            ),
            known as (   -- those figures from every source, latest wins
                select r.indicator_code, r.district_code, r.year, r.value, f.received_at
                from raw.submission_rows as r
                semi join wanted using (indicator_code, district_code, year)
                join raw.submission_files as f using (file_hash)
                where r.status = 'accepted' and f.status = 'loaded' and r.value is not null
                union all
                select o.indicator_code, o.district_code, o.year, o.value, f.fetched_at
                from raw.open_data_observations as o
                semi join wanted using (indicator_code, district_code, year)
                join raw.open_data_fetches as f using (fetch_id)
                where o.status = 'accepted' and f.status = 'loaded' and o.value is not null
                union all
                select indicator_code, district_code, year, value, received_at from incoming
            ),
            -- the latest of each as known when the file arrived: a batch holds later
            -- files too, and a file is judged as if landed alone, in its turn
            year_before as (
                select i.file_hash, i.record_number, arg_max(k.value, k.received_at) as value
                from incoming as i
                join known as k on k.indicator_code = i.indicator_code
                    and k.district_code = i.district_code and k.year = i.year - 1
                    and k.received_at <= i.received_at
                group by all
            ),
            city_that_year as (
                select i.file_hash, i.record_number, arg_max(k.value, k.received_at) as value
                from incoming as i
                join known as k on k.indicator_code = i.indicator_code
                    and k.district_code = i.city_code and k.year = i.year
                    and k.received_at <= i.received_at
                where i.district_code <> i.city_code
                group by all
            ),
            compared as (
                select i.*, p.rule, p.threshold, p.action,
                       case when p.rule = 'above_city_total' then c.value else b.value end
                           as other
                from incoming as i
                join plausibility_rules as p using (indicator_code)
                left join year_before as b using (file_hash, record_number)
                left join city_that_year as c using (file_hash, record_number)
            )
            select file_hash, record_number, sheet_name, cell, indicator_code, district_code,
                   year, rule, other as compared_with, action,
                   case rule
                   when 'decrease' then format(
                       '累计值下降：{} 年为 {:g}，{} 年为 {:g} / a cumulative total went down: '
                       '{:g} in {}, {:g} in {}', year - 1, other, year, value, other,
                       year - 1, value, year)
                   when 'yoy_factor' then format(
                       '与上年相比变化超过 {:g} 倍：{} 年为 {:g}，{} 年为 {:g} / changed more than '
                       '{:g}-fold on the year before: {:g} in {}, {:g} in {}', threshold,
                       year - 1, other, year, value, threshold, other, year - 1, value, year)
                   else format('区县值 {:g} 高于全市值 {:g} / the district''s {:g} is above the '
                               'city''s {:g}', value, other, value, other)
                   end as message
            from compared
            where other is not null and case rule
                when 'decrease' then value < other
                when 'yoy_factor' then value > 0 and other > 0
                    and greatest(value / other, other / value) > threshold
                else value > other end
        """)
        for digest, sheet, cell, ind, dist, year, rule, message, action, number in con.execute(
                "select w.file_hash, w.sheet_name, w.cell, w.indicator_code, w.district_code, "
                "w.year, w.rule, w.message, w.action, w.record_number "
                "from raw.submission_warnings as w "
                "semi join incoming_files using (file_hash) "
                "order by w.file_hash, w.record_number, w.rule").fetchall():
            receipts[digest].warnings.append({
                "sheet": sheet, "cell": cell, "indicator_code": ind, "district_code": dist,
                "year": year, "rule": rule, "message": message, "action": action,
                "review_item_id": f"{digest}:{number}" if action == "hold" else None})
    finally:
        con.unregister("plausibility_rules")


def refuse_closed_rounds(con, receipts: dict[str, Receipt]) -> None:
    """Records for a reporting year whose round the office has closed are rejected, saying
    so: a closed round's publication is final (docs/operations.md, "Running a round"). The
    round's state is its last event in raw.round_events."""
    template, fields = sql_format("round_closed")
    values = {"year": "l.year", "city": "l.city_code", "by": "l.by",
              "day": "strftime(l.at, '%Y-%m-%d')"}
    args = ", ".join(values[f] for f in fields)
    rows = con.execute(f"""
        with last as (
            select city_code, year, arg_max(event, recorded_at) as event,
                   arg_max(recorded_at, recorded_at) as at,
                   arg_max(recorded_by, recorded_at) as by
            from raw.round_events group by city_code, year
        )
        update incoming_rows as r
        set status = 'rejected', error_column = 'year',
            reason = format('{template.replace("'", "''")}', {args}),
            indicator_code = null, district_code = null, quality_flag = null,
            value = null, is_missing = false
        from incoming_files as f, last as l
        where f.file_hash = r.file_hash and r.status = 'accepted' and l.event = 'closed'
              and l.city_code = f.city_code and l.year = r.year
        returning r.file_hash, r.sheet_name, r.row_number, r.cell, r.value_text, r.reason,
                  r.year_text""").fetchall()
    for digest, sheet, row, cell, value, reason, _year in rows:
        receipt = receipts[digest]
        receipt.rows_accepted -= 1
        receipt.rows_rejected += 1
        receipt.reject({"sheet": sheet, "row": row, "cell": cell, "fault_cell": cell,
                        "column": "year", "reason": reason, "value": value})


def reject_withdrawals(con, receipts: dict[str, Receipt],
                        withdrawn: list[tuple[str, int, str]]) -> None:
    """A missing marker with no reason where a figure was reported before is rejected, not
    landed over it: in the rows about to be inserted and on the file's receipt."""
    for digest, record, reason in withdrawn:
        sheet, row, cell, value = con.execute(
            "update incoming_rows set status = 'rejected', reason = $reason, "
            "error_column = 'value', indicator_code = null, district_code = null, "
            "quality_flag = null, year = null, value = null, is_missing = false "
            "where file_hash = $digest and record_number = $record "
            "returning sheet_name, row_number, cell, value_text",
            {"reason": reason, "digest": digest, "record": record}).fetchone()
        receipt = receipts[digest]
        receipt.rows_accepted -= 1
        receipt.rows_rejected += 1
        receipt.reject({"sheet": sheet, "row": row, "cell": cell, "fault_cell": cell,
                        "column": "value", "reason": reason, "value": value})
