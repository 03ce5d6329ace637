-- For the coordinating office: every current value that was accepted with a plausibility
-- warning (seeds/plausibility_rules.csv), with who sent it and where, to confirm or correct.
-- A correction that passes the rules takes the value off this list.
--
-- Incremental by city x year (macro city_years_touched): a warning belongs to a current value,
-- and a value rewritten since this table's newest row (a correction, a new file) has its
-- city-year rebuilt here; at national scale this list holds a million rows, rebuilt whole on
-- every build before.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ citycheck.city_years_touched('warnings_touched') }}",
) }}

select
    f.value_id || '|' || w.rule as warning_id,
    f.value_id,
    f.city_code,
    f.year,
    f.department_code,
    dep.department_name_zh,
    f.district_code,
    d.district_name_zh,
    f.indicator_code,
    i.indicator_name_zh,
    f.value,
    w.rule,
    w.compared_with,
    w.message,
    s.original_name as source_file,
    w.sheet_name,
    w.cell,
    f.received_at,
    {{ citycheck.built_at() }} as built_at
from {{ ref('fct_indicator_values') }} as f
{% if is_incremental() %}
inner join warnings_touched as t on t.city_code = f.city_code and t.year = f.year
{% endif %}
inner join {{ ref('stg_raw__submission_warnings') }} as w
    on f.source_type = 'submission' and w.file_hash = f.source_id
    and w.sheet_name = f.source_part and w.cell = f.source_cell
inner join {{ ref('stg_raw__submission_files') }} as s on s.file_hash = w.file_hash
inner join {{ ref('dim_department') }} as dep on dep.department_code = f.department_code
inner join {{ ref('dim_district') }} as d on d.district_key = f.district_key
inner join {{ ref('dim_indicator') }} as i on i.indicator_code = f.indicator_code
