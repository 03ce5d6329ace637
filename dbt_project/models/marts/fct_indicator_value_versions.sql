-- Every version of every value ever accepted; fct_indicator_values holds the current one.
-- Incremental: the (district, indicator, year) keys whose versions were rewritten since this
-- table's newest rows (built_at) are replaced.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['district_code', 'indicator_code', 'year'],
    on_schema_change='fail',
) }}

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
    v.review_state,
    v.after_round_closed,
    v.under_review,
    v.source_type,
    v.source_id,
    v.source_part,
    v.source_row,
    v.source_cell,
    v.received_at,
    {{ citycheck.built_at() }} as built_at
from {{ ref('int_indicator_values_versioned') }} as v
left join {{ ref('dim_district') }} as d
    on d.district_code = v.district_code
    and {{ citycheck.valid_in_year('d', 'v.year') }}
{% if is_incremental() %}
-- the versioning rewrites every version of a key it touches, all with one stamp
where v.built_at > {{ citycheck.last_built_at(this) }}
{% endif %}
