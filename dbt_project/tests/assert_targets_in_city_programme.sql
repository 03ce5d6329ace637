-- A target is only meaningful for an indicator the city's programme runs.
select t.target_id, t.city_code, t.indicator_code
from {{ ref('targets') }} as t
left join {{ ref('city_indicators') }} as ci
    on ci.city_code = t.city_code and ci.indicator_code = t.indicator_code
where ci.indicator_code is null
