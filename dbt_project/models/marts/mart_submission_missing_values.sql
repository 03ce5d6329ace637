-- The dispatch list in detail: every value a department owes for a city and year and has
-- not delivered (no accepted value from any source). A value reported as missing (—, 无) was
-- delivered: it is shown as missing, not chased.
select
    e.city_code || '|' || cast(e.year as text) || '|' || e.district_code || '|'
        || e.indicator_code as missing_id,
    e.city_code,
    c.name_zh as city_name_zh,
    e.year,
    e.department_code,
    dep.department_name_zh,
    e.district_code,
    e.district_name_zh,
    e.indicator_code,
    e.indicator_name_zh
from {{ ref('int_values_expected') }} as e
inner join {{ ref('cities') }} as c on c.city_code = e.city_code
inner join {{ ref('dim_department') }} as dep on dep.department_code = e.department_code
left join {{ ref('fct_indicator_values') }} as f
    on f.district_code = e.district_code
    and f.indicator_code = e.indicator_code
    and f.year = e.year
where f.value_id is null
