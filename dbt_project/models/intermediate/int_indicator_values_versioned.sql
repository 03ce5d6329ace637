-- Every version of every value. A later file or fetch for the same district, indicator and
-- year supersedes the earlier one; the earlier version stays here, queryable.
--
-- Incremental: a build re-versions only the (district, indicator, year) keys that files or
-- fetches new to this table touch, from all their observations, and replaces those keys'
-- rows (delete+insert). Late and out-of-order files are versioned by received_at like any
-- other. A build killed half-way heals itself: the next one finds the same new sources.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['district_code', 'indicator_code', 'year'],
) }}

{% if is_incremental() %}
with touched as (
    select distinct u.district_code, u.indicator_code, u.year
    from {{ ref('int_observations_unioned') }} as u
    where not exists (
        select 1 from (select distinct source_type, source_id from {{ this }}) as seen
        where seen.source_type = u.source_type and seen.source_id = u.source_id
    )
),

observations as (
    select u.*
    from {{ ref('int_observations_unioned') }} as u
    inner join touched as t
        on t.district_code = u.district_code and t.indicator_code = u.indicator_code
        and t.year = u.year
),
{% else %}
with observations as (
    select * from {{ ref('int_observations_unioned') }}
),
{% endif %}

ordered as (
    select
        *,
        row_number() over (
            partition by district_code, indicator_code, year
            order by received_at, source_id, source_row, source_cell
        ) as version_number,
        count(*) over (partition by district_code, indicator_code, year) as version_count,
        min(received_at) over (partition by district_code, indicator_code, year)
            as first_received_at
    from observations
),

with_previous as (
    select
        *,
        lag(value) over (
            partition by district_code, indicator_code, year order by version_number
        ) as previous_version_value
    from ordered
),

flagged as (
    select
        *,
        -- a re-statement of the same figure (e.g. a re-fetched payload where another record
        -- changed) is a new version but not a revision
        version_number > 1 and value is distinct from previous_version_value as changes_value
    from with_previous
),

-- Which version is current (seeds/source_precedence.csv): the newest from the indicator's
-- preferred source when it has one, else the newest from any source.
ranked as (
    select
        f.*,
        p.preferred_source_type,
        p.why_zh as precedence_why_zh,
        p.why_en as precedence_why_en,
        min(f.source_type) over (partition by f.district_code, f.indicator_code, f.year)
            <> max(f.source_type) over (partition by f.district_code, f.indicator_code, f.year)
            as from_both_sources,
        row_number() over (
            partition by f.district_code, f.indicator_code, f.year
            order by case when f.source_type = p.preferred_source_type then 0 else 1 end,
                f.version_number desc
        ) as current_rank
    from flagged as f
    left join {{ ref('source_precedence') }} as p on p.indicator_code = f.indicator_code
)

select
    *,
    cast(sum(case when changes_value then 1 else 0 end) over (
        partition by district_code, indicator_code, year
    ) as integer) as revision_count,
    current_rank = 1 as is_current,
    {{ citycheck.built_at() }} as built_at,
    case
        when not from_both_sources then 'newest version'
        when preferred_source_type is not null
            then 'preferred source ' || preferred_source_type || ': ' || precedence_why_en
                || ' / ' || precedence_why_zh
        else 'newest version of the department file and open data (no precedence rule) / '
            || '部门报送与开放数据取最新'
    end as current_because
from ranked
