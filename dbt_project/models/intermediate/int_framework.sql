-- Each city's programme framework (seeds/framework_items.csv, docs/reference-data.md): one row
-- per indicator, scheme and run of years, with the programme's city. An indicator is in a
-- city's programme in a year when one of its rows covers that year (macro in_framework): it is
-- owed (int_values_expected), rolled up to the city (int_city_values_rolled_up) and scored in
-- the dimension its city_health_check row names that year (int_index_values,
-- mart_dimension_index) and in the aspect its refined_city_aspect row names
-- (mart_sustainability_index). A programme can so change its framework between years.
{{ config(materialized='view') }}

select
    p.city_code,
    f.programme_code,
    f.scheme,
    f.classification_code,
    f.indicator_code,
    f.first_year,
    f.last_year
from {{ ref('framework_items') }} as f
inner join {{ ref('programmes') }} as p on p.programme_code = f.programme_code
