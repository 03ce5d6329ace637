-- A round's values as they stand now (轮次报送明细): one row per value the programme requires of a
-- department in an opened round (int_values_expected), whether or not anything arrived, with
-- where it is: owed (nothing received), received (published), reported_missing (sent as 无
-- with a reason, published as missing), held (waiting for the office's review), returned (to
-- the department, with the office's reason), answered (the department replied; back with the
-- office), confirmed (held, then confirmed by the office and published). One definition for
-- `citycheck status`, `citycheck freshness`, the office's and the clerks' pages and the
-- export (citycheck/operations/rounds.py). Days overdue are counted from due_on by whoever
-- reads it, on the day they read it.
--
-- Incremental by city x year (macro round_values_touched): a build recomputes the city-years
-- whose values, rounds or reviews changed and keeps the rest; at national scale this table
-- holds every value every round owes (millions of rows), rebuilt whole on every build before.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ citycheck.round_values_touched('round_values_touched') }}",
) }}

select
    e.city_code || '|' || cast(e.year as text) || '|' || e.district_code || '|'
        || e.indicator_code as round_value_id,
    r.programme_code,
    e.city_code,
    c.name_zh as city_name_zh,
    e.year,
    r.due_on,
    r.last_event = 'closed' as round_closed,
    e.department_code,
    dep.department_name_zh,
    dep.department_name_en,
    e.district_code,
    e.district_key,
    e.district_name_zh,
    e.indicator_code,
    e.indicator_name_zh,
    i.indicator_name_en,
    i.unit,
    case
        when q.review_item_id is not null then q.review_state
        when f.value_id is null then 'owed'
        when f.review_state = 'confirmed' then 'confirmed'
        when f.is_missing then 'reported_missing'
        else 'received'
    end as value_state,
    f.value,
    coalesce(f.is_missing, false) as is_missing,
    f.received_at,
    f.source_id,
    q.value as pending_value,
    q.review_item_id,
    q.last_review_id,
    coalesce(q.last_review_reason, q.held_because) as review_reason,
    {{ citycheck.built_at() }} as built_at
from {{ ref('int_values_expected') }} as e
{% if is_incremental() %}
inner join round_values_touched as t on t.city_code = e.city_code and t.year = e.year
{% endif %}
inner join {{ ref('int_rounds') }} as r on r.city_code = e.city_code and r.year = e.year
inner join {{ ref('cities') }} as c on c.city_code = e.city_code
inner join {{ ref('dim_department') }} as dep on dep.department_code = e.department_code
inner join {{ ref('dim_indicator') }} as i on i.indicator_code = e.indicator_code
left join {{ ref('fct_indicator_values') }} as f
    on f.district_code = e.district_code
    and f.indicator_code = e.indicator_code
    and f.year = e.year
left join {{ ref('mart_review_queue') }} as q
    on q.district_code = e.district_code
    and q.indicator_code = e.indicator_code
    and q.year = e.year
