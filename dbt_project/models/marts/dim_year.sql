-- Every year from the earliest to the latest year that has a value or a target.
with recursive bounds as (
    select min(y) as first_year, max(y) as last_year
    from (
        select year as y from {{ ref('int_observations_unioned') }}
        union all
        select target_year from {{ ref('targets') }}
    ) as years
),

spine as (
    select first_year as year from bounds
    union all
    select year + 1 from spine where year < (select last_year from bounds)
),

loaded as (
    select distinct year from {{ ref('int_observations_unioned') }}
)

select
    s.year,
    cast(s.year as text) || '年' as year_label_zh,
    make_date(s.year, 1, 1) as year_start,
    l.year is not null as has_values,
    s.year between 2019 and 2021 as in_refined_city_plan_2019_2021
from spine as s
left join loaded as l on l.year = s.year
