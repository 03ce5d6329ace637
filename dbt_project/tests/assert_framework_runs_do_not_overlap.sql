-- In one programme and scheme an indicator belongs to one group in any year: two runs of
-- years of the same indicator must not overlap (or its values would count twice).
select a.programme_code, a.scheme, a.indicator_code, a.first_year, b.first_year as other_first_year
from {{ ref('framework_items') }} as a
inner join {{ ref('framework_items') }} as b
    on b.programme_code = a.programme_code and b.scheme = a.scheme
    and b.indicator_code = a.indicator_code and b.first_year > a.first_year
where a.last_year is null or a.last_year >= b.first_year
