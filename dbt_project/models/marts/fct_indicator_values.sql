-- Grain: district x indicator x year, the current version of each value.
-- Incremental: the keys whose versions were rewritten since this table's newest rows
-- (built_at) are replaced.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['district_code', 'indicator_code', 'year'],
    on_schema_change='fail',
) }}

-- not materialized: read three times below, DuckDB otherwise writes every current version
-- to a temporary table first; inlined, the full build's query at M took 0.51-0.57 s instead
-- of 0.73-0.91 s, the same rows (docs/performance.md, eighth round)
with current_versions as not materialized (
    select v.*
    from {{ ref('fct_indicator_value_versions') }} as v
    where v.is_current
    {% if is_incremental() %}
        and v.built_at > {{ citycheck.last_built_at(this) }}
    {% endif %}
),

-- the warnings of the version that is current (a correction without one clears it), read
-- only for the cells of those versions
warnings as (
    select w.file_hash, w.sheet_name, w.cell,
        {{ dbt.listagg('w.message', "'; '", "order by w.rule") }} as plausibility_warning
    from {{ ref('stg_raw__submission_warnings') }} as w
    inner join (
        select distinct source_id, source_part, source_cell
        from current_versions where source_type = 'submission'
    ) as c
        on c.source_id = w.file_hash and c.source_part = w.sheet_name and c.source_cell = w.cell
    group by w.file_hash, w.sheet_name, w.cell
),

because as (
    select x.observation_id, x.current_because
    from {{ ref('int_indicator_values_versioned') }} as x
    inner join current_versions as c on c.observation_id = x.observation_id
)

select
    v.district_code || '|' || v.indicator_code || '|' || cast(v.year as text) as value_id,
    v.city_code,
    v.district_code,
    v.district_key,
    v.indicator_code,
    v.department_code,
    v.year,
    v.value,
    v.is_missing,
    v.quality_flag,
    v.revision_count > 0 as is_revised,
    v.revision_count,
    v.version_count,
    v.previous_version_value,
    v.review_state,
    v.under_review,
    v.source_type,
    v.source_id,
    v.source_part,
    v.source_row,
    v.source_cell,
    v.received_at,
    w.plausibility_warning,
    c.current_because,
    {{ citycheck.built_at() }} as built_at
from current_versions as v
left join warnings as w
    on v.source_type = 'submission' and w.file_hash = v.source_id
    and w.sheet_name = v.source_part and w.cell = v.source_cell
inner join because as c on c.observation_id = v.observation_id
