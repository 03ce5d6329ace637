-- Every version of every value ever accepted; fct_indicator_values holds the current one.
-- Incremental: the (district, indicator, year) keys whose versions changed are replaced. A
-- key that took in a new file or fetch has one version more than this table holds for it.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['district_code', 'indicator_code', 'year'],
    on_schema_change='fail',
) }}

{% if is_incremental() %}
with touched as (
    select v.district_code, v.indicator_code, v.year
    from {{ ref('int_indicator_values_versioned') }} as v
    left join {{ this }} as t
        on t.district_code = v.district_code and t.indicator_code = v.indicator_code
        and t.year = v.year and t.is_current
    where v.is_current and (t.version_count is null or t.version_count <> v.version_count)
)
{% endif %}

select
    v.observation_id,
    v.city_code,
    v.district_code,
    d.district_key,
    v.indicator_code,
    v.department_code,
    v.year,
    v.value,
    v.is_missing,
    v.quality_flag,
    v.version_number,
    v.version_count,
    v.is_current,
    v.previous_version_value,
    v.changes_value,
    v.revision_count,
    v.source_type,
    v.source_id,
    v.source_part,
    v.source_row,
    v.source_cell,
    v.received_at
from {{ ref('int_indicator_values_versioned') }} as v
{% if is_incremental() %}
inner join touched as k
    on k.district_code = v.district_code and k.indicator_code = v.indicator_code
    and k.year = v.year
{% endif %}
left join {{ ref('dim_district') }} as d
    on d.district_code = v.district_code
    and {{ citycheck.valid_in_year('d', 'v.year') }}
