"""The raw schema: what intake lands, append-only, in either engine.

Raw tables are written only by intake (extract/) and only ever appended to. dbt reads them as
sources; nothing deletes or updates a raw row, so every published value can be traced back
to the file row or fetched record it came from. The statements are DuckDB's; PostgreSQL
takes them with one type spelled its way (pg_ddl).
"""
from __future__ import annotations

RAW_DDL = """
create schema if not exists raw;

create table if not exists raw.submission_files (
    file_hash        varchar primary key,  -- sha256 of the file's bytes: the idempotence key
    original_name    varchar not null,
    archived_path    varchar,
    size_bytes       bigint,
    received_at      timestamp not null,
    city_code        varchar,
    department_code  varchar,
    year             integer,
    layout           varchar,
    status           varchar not null,     -- loaded | rejected
    rows_read        integer not null,
    rows_accepted    integer not null,
    rows_rejected    integer not null,
    rows_ignored     integer not null,
    message          varchar
);

create table if not exists raw.submission_rows (
    file_hash        varchar not null,
    record_number    integer not null,     -- 1..n within the file: the unit of accounting
    sheet_name       varchar,
    row_number       integer not null,     -- as the department sees it: 1-based line or Excel row
    cell             varchar,              -- the value's cell (E7); a wide row has one per district
    status           varchar not null,     -- accepted | rejected | ignored
    reason           varchar,              -- why rejected or ignored
    error_column     varchar,              -- the column a rejection is about
    indicator_text   varchar,
    district_text    varchar,
    year_text        varchar,
    value_text       varchar,
    unit_text        varchar,
    flag_text        varchar,
    note_text        varchar,              -- text that looked like a formula starts with '
    indicator_code   varchar,              -- resolved at intake, null when rejected
    district_code    varchar,
    year             integer,
    value            double,
    is_missing       boolean,              -- a missing marker (blank, —, 无): no value, never zero
    quality_flag     varchar,
    loaded_at        timestamp not null
    -- No key: (file_hash, record_number) is unique because file_hash is submission_files'
    -- key, landed in the same transaction, and intake numbers a file's records 1..n (the
    -- staging model's dbt test checks it at every build). DuckDB's index of it was half the
    -- cost of landing a batch's rows (2.5 s of the 90 s of intake at L) and 44 MB of the
    -- file; PostgreSQL keeps it as a unique index (pg_connection.py), where reads use it.
);

-- The receipt each landed file got, written in the same transaction as its rows: a receipt
-- file lost to a crash is written again from here (extract/submissions/, recover_intake).
create table if not exists raw.submission_receipts (
    file_hash        varchar not null,
    stem             varchar not null,     -- receipt (the file's own receipt)
    receipt_json     varchar not null,
    primary key (file_hash, stem)
);

-- Values accepted but implausible by a rule of seeds/plausibility_rules.csv, found when their
-- file landed (extract/submissions/) and written in the same transaction.
create table if not exists raw.submission_warnings (
    file_hash        varchar not null,
    record_number    integer not null,
    sheet_name       varchar,
    cell             varchar,
    indicator_code   varchar not null,
    district_code    varchar not null,
    year             integer not null,
    rule             varchar not null,     -- decrease | yoy_factor | above_city_total
    compared_with    double,               -- the year before's value, or the city's
    message          varchar not null,     -- Chinese and English
    primary key (file_hash, record_number, rule)
);
-- hold: the value waits for the office's review before it is published (a rule of
-- seeds/plausibility_rules.csv says so, or intake marked the cell as doubtful); inform: it is
-- published with the warning. Null in warehouses made before review existed: inform.
alter table raw.submission_warnings add column if not exists action varchar;

-- The reporting rounds (programme x city x reporting year): every change of a round's state,
-- appended by the calendar (citycheck/warehouse/rounds.py) and by the office
-- (`citycheck round open|close`, the portal). dbt derives each round's state from them.
create table if not exists raw.round_events (
    event_id         varchar primary key,
    programme_code   varchar not null,
    city_code        varchar not null,
    year             integer not null,     -- the reporting year the round collects
    event            varchar not null,     -- opened | closed | reopened
    due_on           date,                 -- opened, reopened: the deadline of the round
    recorded_at      timestamp not null,   -- UTC
    recorded_by      varchar not null,     -- an account, or calendar
    reason           varchar,
    detail           varchar               -- JSON: what a close with override left missing
);

-- The office's review of values held at intake, and the departments' answers: appended by
-- `citycheck review` and the portal. A version is the raw row (file_hash, record_number).
create table if not exists raw.value_reviews (
    review_id        varchar primary key,
    file_hash        varchar not null,
    record_number    integer not null,
    city_code        varchar not null,
    indicator_code   varchar not null,
    district_code    varchar not null,
    year             integer not null,
    action           varchar not null,     -- confirm | return | answer
    recorded_at      timestamp not null,   -- UTC
    recorded_by      varchar not null,     -- the account
    role             varchar not null,     -- office | clerk
    reason           varchar not null,
    previous_review  varchar               -- the review this one followed (null: the hold)
);

-- The problem list (问题清单) and its rectification (整改): each step the office takes on a
-- problem of mart_problems (set its cause, measure, deadline and status), appended by
-- `citycheck problem update` and the portal (citycheck/warehouse/problems.py).
create table if not exists raw.problem_updates (
    update_id        varchar primary key,
    problem_id       varchar not null,     -- mart_problems.problem_id
    city_code        varchar not null,
    status           varchar not null,     -- open | in_progress | rectified
    cause            varchar,
    measure          varchar,
    deadline         date,
    recorded_at      timestamp not null,   -- UTC
    recorded_by      varchar not null,     -- the office account
    previous_update  varchar               -- the update this one followed (null: the first)
);

-- Bulletins (通报) as issued: the record each keeps beside its page (bulletin.json, written by
-- citycheck/serving/bulletin.py), landed by every build (citycheck/warehouse/bulletins.py).
-- A bulletin's figures are those of the publication it was made from, as printed.
create table if not exists raw.bulletins (
    bulletin_id      varchar primary key,  -- city_code|year|NN
    city_code        varchar not null,
    year             integer not null,     -- the round
    number           integer not null,     -- 第N期 of the city's round
    as_of            date not null,        -- the day it counted days overdue to
    issued_at        timestamp not null,   -- UTC
    issued_by        varchar not null,     -- the office account, cli or weekly
    publication_id   varchar not null,     -- the publication its figures are from
    page             varchar not null,     -- its page, relative to the reports folder
    landed_at        timestamp not null    -- UTC
);
create table if not exists raw.bulletin_lines (
    bulletin_id       varchar not null,
    subject_kind      varchar not null,    -- department | district
    subject_code      varchar not null,
    rank_in_city      integer,
    score             double,
    listed            varchar,             -- districts: commend | interview; null: neither
    listed_because_zh varchar,             -- the rules that listed it
    listed_because_en varchar,
    days_late         integer,             -- departments
    days_overdue      integer,
    values_missing    integer,
    values_returned   integer,
    values_corrected  integer,
    index_score       double,              -- districts
    index_change      double,
    attainment_pct    double,
    primary key (bulletin_id, subject_kind, subject_code)
);

-- Resident surveys (城市人居环境满意度调查, seed 001's eighth dimension), loaded by
-- `citycheck survey FILE` (extract/surveys.py): one row per file, one per respondent row of
-- it (accepted or rejected with the reason), one per answer of an accepted respondent. The
-- estimates and their intervals are computed from these (mart_survey_estimates).
create table if not exists raw.survey_files (
    file_hash        varchar primary key,  -- sha256 of the file's bytes
    original_name    varchar not null,
    archived_path    varchar,
    received_at      timestamp not null,
    city_code        varchar not null,
    year             integer not null,
    survey_name      varchar,
    rows_read        integer not null,
    rows_accepted    integer not null,
    rows_rejected    integer not null,
    message          varchar
);

create table if not exists raw.survey_rows (
    file_hash        varchar not null,
    row_number       integer not null,     -- the line of the file
    respondent_id    varchar,
    district_text    varchar,
    district_code    varchar,              -- resolved; null when rejected
    weight_text      varchar,
    weight           double,
    status           varchar not null,     -- accepted | rejected
    reason           varchar,
    error_column     varchar,
    primary key (file_hash, row_number)
);

create table if not exists raw.survey_answers (
    file_hash        varchar not null,
    row_number       integer not null,
    item             varchar not null,     -- safety | convenience | natural_environment | ...
    answer_text      varchar,
    answer           integer,              -- 1 (very dissatisfied) .. 5 (very satisfied); null: no answer
    primary key (file_hash, row_number, item)
);

create table if not exists raw.open_data_fetches (
    fetch_id         varchar primary key,
    source_name      varchar not null,
    url              varchar not null,     -- with secrets removed
    http_status      integer,
    bytes            bigint,
    content_hash     varchar,
    fetched_at       timestamp not null,
    etag             varchar,
    last_modified    varchar,
    payload_path     varchar,
    status           varchar not null,     -- loaded | unchanged | not_modified | failed
    records          integer not null,
    observations_accepted integer not null,
    observations_rejected integer not null,
    message          varchar
);

create table if not exists raw.open_data_observations (
    fetch_id         varchar not null,
    source_name      varchar not null,
    record_number    integer not null,     -- position of the record in the fetched payload
    field_name       varchar not null,     -- the payload field the value came from
    record_json      varchar not null,
    status           varchar not null,     -- accepted | rejected
    reason           varchar,
    indicator_code   varchar,
    district_text    varchar,
    district_code    varchar,
    year_text        varchar,
    year             integer,
    value_text       varchar,
    value            double,
    loaded_at        timestamp not null,
    primary key (fetch_id, record_number, field_name)
);
"""


# The landings of the same bytes (sha256, or sha256~n: the n-th sending again of bytes no
# earlier sending of which was taken whole), and what files received after one, up to a
# moment, changed of its values (Landing.landings_of, later_versions). The exact sha256
# first, by its key; the later sendings only for bytes whose first was not taken whole.
LANDINGS_SQL = """select file_hash, original_name, received_at, status, archived_path, city_code,
       department_code, year, rows_rejected
from raw.submission_files
where file_hash in ({marks})"""
RESENT_SQL = """select file_hash, original_name, received_at, status, archived_path, city_code,
       department_code, year, rows_rejected
from raw.submission_files
where file_hash like {mark} || '~%'"""


LATER_SQL = """with mine as (
    select indicator_code, district_code, year, value
    from raw.submission_rows where file_hash = {mark} and status = 'accepted'
), later as (
    select r.indicator_code, r.district_code, r.year, f.original_name, f.received_at
    from raw.submission_rows as r
    join raw.submission_files as f on f.file_hash = r.file_hash
    join mine as m on m.indicator_code = r.indicator_code
        and m.district_code = r.district_code and m.year = r.year
    where r.status = 'accepted' and f.status = 'loaded' and r.file_hash <> {mark}
        and f.received_at > (select received_at from raw.submission_files
                             where file_hash = {mark})
        and f.received_at <= {before}
        and r.value is distinct from m.value
)
select (select count(*) from (select distinct indicator_code, district_code, year
                              from later) as k),
       (select original_name from later order by received_at desc, original_name desc
        limit 1),
       (select max(received_at) from later)"""


# The raw tables, in the order a batch lands them.
SUBMISSION_TABLES = ("submission_files", "submission_rows", "submission_receipts",
                     "submission_warnings")
OPEN_DATA_TABLES = ("open_data_fetches", "open_data_observations")
SURVEY_TABLES = ("survey_files", "survey_rows", "survey_answers")
# Written by the office and the departments, not by intake.
ROUND_TABLES = ("round_events", "value_reviews", "problem_updates", "bulletins",
                "bulletin_lines")


def pg_ddl(ddl: str = RAW_DDL) -> str:
    """The same tables in PostgreSQL's words: double precision, and text for varchar (the
    type dbt-postgres gives the models' text columns: with character varying in raw, an
    incremental model would see its columns change type between builds)."""
    import re

    ddl = re.sub(r"\bdouble\b(?! precision)", "double precision", ddl)
    return re.sub(r"\bvarchar\b", "text", ddl)
