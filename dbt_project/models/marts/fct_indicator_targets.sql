-- Plan targets: those of targets.csv (one city or district, one year), and every district's
-- own target from the recurring rules of district_targets.csv ("each district, each year, at
-- least N"; "each district, by year Y, at least N"), one row per district and year, so that
-- attainment and ranking are per district (mart_indicator_scorecard, mart_district_targets).
with recursive rule_years as (
    select rule_id, first_year as year, last_year
    from {{ ref('district_targets') }}
    union all
    select rule_id, year + 1, last_year from rule_years where year < last_year
),

single as (
    select
        t.target_id,
        t.city_code,
        t.district_code,
        t.indicator_code,
        t.target_year,
        t.basis,
        t.base_year,
        t.comparator,
        t.target_value,
        t.target_text_zh,
        t.source_document,
        t.note,
        cast(null as text) as rule_id
    from {{ ref('targets') }} as t
),

recurring as (
    select
        r.rule_id || '|' || d.district_code || '|' || cast(y.year as text) as target_id,
        r.city_code,
        d.district_code,
        r.indicator_code,
        y.year as target_year,
        'level' as basis,
        cast(null as integer) as base_year,
        r.comparator,
        r.target_value,
        r.target_text_zh,
        r.source_document,
        r.note,
        r.rule_id
    from {{ ref('district_targets') }} as r
    inner join rule_years as y on y.rule_id = r.rule_id
    inner join {{ ref('dim_district') }} as d
        on d.city_code = r.city_code and d.unit_level <> 'city' and d.reports_indicators
        and {{ citycheck.valid_in_year('d', 'y.year') }}
),

all_targets as (
    select * from single
    union all
    select * from recurring
)

select
    t.target_id,
    t.city_code,
    t.district_code,
    d.district_key,
    t.indicator_code,
    t.target_year,
    t.basis,
    t.base_year,
    t.comparator,
    t.target_value,
    t.target_text_zh,
    t.source_document,
    t.note,
    t.rule_id
from all_targets as t
left join {{ ref('dim_district') }} as d
    on d.district_code = t.district_code
    and {{ citycheck.valid_in_year('d', 't.target_year') }}
