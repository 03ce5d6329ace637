-- A framework row's group belongs to the scheme it names (a city-health-check dimension for
-- scheme city_health_check, and so on): a typo would file an indicator under another scheme.
select f.programme_code, f.scheme, f.classification_code, f.indicator_code
from {{ ref('framework_items') }} as f
left join {{ ref('classifications') }} as c
    on c.classification_code = f.classification_code and c.scheme = f.scheme
where c.classification_code is null
