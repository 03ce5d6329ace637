-- Each district's value on each index indicator, and the value the index scores: the value
-- itself, or — where index_weights.csv names an indicator to divide by (`divided_by`) — the
-- value per unit of that indicator in the same district and year: pocket parks, canteens, lifts
-- … per 10,000 residents (resident_population_10k), so that districts of 8 and 71 万 residents
-- compare. No denominator that year (or zero): no scored value, never a guess.
-- A view: int_indicator_scores and int_index_goalposts read it; analysts may too.
{{ config(materialized='view') }}

select
    f.city_code,
    f.district_code,
    f.district_key,
    f.indicator_code,
    f.year,
    f.value,
    i.direction,
    i.band_low,
    i.band_high,
    fw.classification_code as chc_dimension_code,
    w.weight,
    nullif(w.divided_by, '') as divided_by,
    p.value as denominator,
    case
        when nullif(w.divided_by, '') is null then f.value
        when p.value > 0 then f.value / p.value
    end as scored_value
from {{ ref('fct_indicator_values') }} as f
inner join {{ ref('dim_district') }} as d on d.district_key = f.district_key
inner join {{ ref('dim_indicator') }} as i on i.indicator_code = f.indicator_code
inner join {{ ref('index_weights') }} as w on w.indicator_code = f.indicator_code
-- the dimension the city's framework puts the indicator in that year; not in it: not scored
inner join {{ ref('int_framework') }} as fw
    on fw.city_code = f.city_code and fw.indicator_code = f.indicator_code
    and fw.scheme = 'city_health_check' and {{ citycheck.in_framework('fw', 'f.year') }}
left join {{ ref('fct_indicator_values') }} as p
    on p.district_key = f.district_key and p.year = f.year
    and p.indicator_code = nullif(w.divided_by, '')
where d.unit_level <> 'city' and f.value is not null and w.weight > 0
    and i.direction in ('higher_better', 'lower_better', 'target_band')
