-- The indicators a city's index is made of, by scheme and year: those of its programme's
-- framework (int_framework) listed in index_weights.csv with a weight above 0, reported per
-- district, and with a direction a score can follow. mart_dimension_index reads scheme
-- city_health_check (the dimensions), mart_sustainability_index scheme refined_city_aspect
-- (the aspects); each counts an indicator in the years its row covers (macro in_framework).
{{ config(materialized='view') }}

select
    f.city_code,
    f.scheme,
    f.classification_code,
    f.indicator_code,
    f.first_year,
    f.last_year,
    w.weight
from {{ ref('int_framework') }} as f
inner join {{ ref('dim_indicator') }} as i on i.indicator_code = f.indicator_code
inner join {{ ref('index_weights') }} as w on w.indicator_code = f.indicator_code
where w.weight > 0 and i.reporting_level = 'district'
    and i.direction in ('higher_better', 'lower_better', 'target_band')
