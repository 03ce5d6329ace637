-- A target is only meaningful for an indicator the city's programme framework holds in the
-- target's year.
select t.target_id, t.city_code, t.indicator_code, t.target_year
from {{ ref('targets') }} as t
where not exists (
    select 1 from {{ ref('int_framework') }} as f
    where f.city_code = t.city_code and f.indicator_code = t.indicator_code
        and {{ citycheck.in_framework('f', 't.target_year') }}
)
