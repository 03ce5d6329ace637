-- The analysts' scorecard. Grain: district (or the city as a whole) x indicator x year.
--
-- Incremental by city x indicator, the unit within which a row depends on others (rank among
-- the city's districts, the city roll-up, the previous and the base year): a build recomputes
-- the partitions of the values rewritten since this table's newest rows (built_at), and those
-- whose roll-up is not what this table shows (a population reaches weighted means).
-- A recomputed row that comes out exactly as this table holds it keeps its built_at: a
-- correction to 2023 recomputes every year of its city and indicator, and only the rows that
-- changed are new, so publication rewrites only the years that changed (citycheck/publication/publish.py).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['city_code', 'indicator_code'],
    on_schema_change='fail',
) }}

with
{% if is_incremental() %}
touched as (
    -- union, not union all: one row per partition
    select f.city_code, f.indicator_code
    from {{ ref('fct_indicator_values') }} as f
    where f.built_at > {{ citycheck.last_built_at(this) }}
    union
    select r.city_code, r.indicator_code
    from {{ ref('int_city_values_rolled_up') }} as r
    left join {{ this }} as s
        on s.district_code = r.city_code and s.indicator_code = r.indicator_code
        and s.year = r.year
    where s.scorecard_id is null
        or s.value_basis is distinct from 'rollup_' || r.aggregation
        or s.value is distinct from r.rollup_value
),
{% endif %}

facts as (
    select f.*, d.unit_level
    from {{ ref('fct_indicator_values') }} as f
    inner join {{ ref('dim_district') }} as d on d.district_key = f.district_key
    {% if is_incremental() %}
    inner join touched as t on t.city_code = f.city_code and t.indicator_code = f.indicator_code
    {% endif %}
),

rollups as (
    select r.*
    from {{ ref('int_city_values_rolled_up') }} as r
    {% if is_incremental() %}
    inner join touched as t on t.city_code = r.city_code and t.indicator_code = r.indicator_code
    {% endif %}
),

district_rows as (
    select
        city_code, district_code, indicator_code, year, value, 'reported' as value_basis,
        cast(null as double precision) as reported_city_value, is_revised, quality_flag,
        source_type, source_id, source_row
    from facts
    where unit_level <> 'city'
),

city_reported as (
    select * from facts where unit_level = 'city'
),

city_rows as (
    -- rolled up from the districts where the indicator has an aggregation rule ...
    select
        r.city_code, r.city_code as district_code, r.indicator_code, r.year, r.rollup_value as value,
        'rollup_' || r.aggregation as value_basis,
        c.value as reported_city_value,
        coalesce(c.is_revised, false) as is_revised, c.quality_flag,
        cast(null as text) as source_type, cast(null as text) as source_id,
        cast(null as integer) as source_row
    from rollups as r
    left join city_reported as c
        on c.district_code = r.city_code and c.indicator_code = r.indicator_code and c.year = r.year
    union all
    -- ... and as reported by the department where it has none
    select
        c.city_code, c.district_code, c.indicator_code, c.year, c.value, 'reported',
        c.value, c.is_revised, c.quality_flag, c.source_type, c.source_id, c.source_row
    from city_reported as c
    inner join {{ ref('indicators') }} as i on i.indicator_code = c.indicator_code
    where i.aggregation = 'none' or i.reporting_level = 'city'
),

all_rows as (
    select * from district_rows
    union all
    select * from city_rows
),

ranked as (
    select
        a.*,
        case when a.district_code <> a.city_code and a.value is not null then
            rank() over (
                partition by a.city_code, a.indicator_code, a.year,
                    a.district_code = a.city_code, a.value is null
                order by case i.direction
                    when 'lower_better' then a.value
                    -- inside the band is best; outside, the nearer the better
                    when 'target_band' then greatest(i.band_low - a.value, a.value - i.band_high, 0)
                    else -a.value end
            )
        end as rank_in_city,
        count(case when a.district_code <> a.city_code then a.value end) over (
            partition by a.city_code, a.indicator_code, a.year
        ) as districts_ranked
    from all_rows as a
    inner join {{ ref('indicators') }} as i on i.indicator_code = a.indicator_code
),

with_target as (
    select
        r.*,
        p.value as previous_year_value,
        t.target_id,
        t.comparator,
        t.target_value,
        t.basis as target_basis,
        t.base_year as target_base_year,
        case t.basis
            when 'level' then r.value
            when 'increase' then {{ citycheck.round_to("r.value - b.value", 6) }}
        end as compared_value
    from ranked as r
    left join all_rows as p
        on p.district_code = r.district_code and p.indicator_code = r.indicator_code
        and p.year = r.year - 1
    left join {{ ref('fct_indicator_targets') }} as t
        on t.district_code = r.district_code and t.indicator_code = r.indicator_code
        and t.target_year = r.year
    left join all_rows as b
        on b.district_code = r.district_code and b.indicator_code = r.indicator_code
        and b.year = t.base_year
),

scored as (
select
    w.district_code || '|' || w.indicator_code || '|' || cast(w.year as text) as scorecard_id,
    w.city_code,
    dd.city_name_zh,
    w.district_code,
    dd.district_key,
    dd.district_name_zh,
    dd.district_name_en,
    w.district_code = w.city_code as is_city_total,
    w.indicator_code,
    i.indicator_name_zh,
    i.indicator_name_en,
    i.unit,
    i.direction,
    i.chc_dimension_zh,
    i.department_code,
    w.year,
    w.value,
    w.value_basis,
    w.reported_city_value,
    case when w.value_basis like 'rollup_%'
        then {{ citycheck.round_to("w.reported_city_value - w.value", 6) }} end as rollup_difference,
    case when w.value_basis like 'rollup_%' and w.reported_city_value is not null
        then abs(w.reported_city_value - w.value)
            > abs(w.value) * {{ var('rollup_tolerance_pct') }} / 100.0 + 1e-9
    end as rollup_differs,
    w.previous_year_value,
    {{ citycheck.round_to("w.value - w.previous_year_value", 6) }} as change_on_previous_year,
    w.target_id,
    w.comparator,
    w.target_value,
    w.target_basis,
    w.target_base_year,
    w.compared_value,
    case
        when w.target_id is null or w.compared_value is null then null
        when w.comparator = '>=' then w.compared_value >= w.target_value
        when w.comparator = '>' then w.compared_value > w.target_value
        when w.comparator = '<=' then w.compared_value <= w.target_value
        when w.comparator = '<' then w.compared_value < w.target_value
        when w.comparator = '=' then abs(w.compared_value - w.target_value) < 1e-9
    end as target_met,
    w.rank_in_city,
    w.districts_ranked,
    w.is_revised,
    w.quality_flag,
    w.source_type,
    w.source_id,
    w.source_row
from with_target as w
inner join {{ ref('dim_indicator') }} as i on i.indicator_code = w.indicator_code
left join {{ ref('dim_district') }} as dd
    on dd.district_code = w.district_code
    and {{ citycheck.valid_in_year('dd', 'w.year') }}
)

{% if is_incremental() and execute %}
{%- set same = adapter.get_columns_in_relation(this) | map(attribute='name')
               | reject('equalto', 'built_at') | list %}
select
    n.*,
    case when o.scorecard_id is not null
              and ({% for c in same %}n.{{ c }}{{ ", " if not loop.last }}{% endfor %})
                  is not distinct from
                  ({% for c in same %}o.{{ c }}{{ ", " if not loop.last }}{% endfor %})
         then o.built_at else {{ citycheck.built_at() }} end as built_at
from scored as n
left join (
    -- the rows of the partitions being recomputed, not the whole table
    select o.*
    from {{ this }} as o
    inner join touched as t on t.city_code = o.city_code and t.indicator_code = o.indicator_code
) as o on o.scorecard_id = n.scorecard_id
{% else %}
select *, {{ citycheck.built_at() }} as built_at from scored
{% endif %}
