-- Grain: district x indicator x year, the current version of each value.
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
    v.source_type,
    v.source_id,
    v.source_part,
    v.source_row,
    v.source_cell,
    v.received_at,
    w.plausibility_warning,
    c.current_because
from {{ ref('fct_indicator_value_versions') }} as v
-- the warnings of the version that is current (a correction without one clears it)
left join (
    select file_hash, sheet_name, cell,
        {{ dbt.listagg('message', "'; '", "order by rule") }} as plausibility_warning
    from {{ ref('stg_raw__submission_warnings') }}
    group by file_hash, sheet_name, cell
) as w
    on v.source_type = 'submission' and w.file_hash = v.source_id
    and w.sheet_name = v.source_part and w.cell = v.source_cell
inner join {{ ref('int_indicator_values_versioned') }} as c
    on c.observation_id = v.observation_id
where v.is_current
