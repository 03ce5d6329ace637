-- Every version of every value. A later file or fetch for the same district, indicator and
-- year supersedes the earlier one; the earlier version stays here, queryable.
--
-- Not every version may be published: a version held at intake for the office's review is
-- published only once confirmed (int_value_review_states), and a version that arrived after
-- its round was closed is not published while the round stays closed (int_rounds). The
-- current version is the newest publishable one (from the indicator's preferred source when
-- it has one); a newer version still in review marks the key as under review.
--
-- Incremental: a build re-versions only the (district, indicator, year) keys that files or
-- fetches new to this table touch, from all their observations, and replaces those keys'
-- rows (delete+insert); so do review steps, and the closing or reopening of a round for its
-- city-year, recorded since this table's newest rows (with a day's margin: re-versioning a
-- key is idempotent). Late and out-of-order files are versioned by received_at like any
-- other. A build killed half-way heals itself: the next one finds the same new sources.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['district_code', 'indicator_code', 'year'],
) }}
-- read only by incremental builds (the touched keys):
-- depends_on: {{ ref('stg_raw__value_reviews') }}
-- depends_on: {{ ref('stg_raw__round_events') }}

{% if is_incremental() %}
with touched as (
    select distinct u.district_code, u.indicator_code, u.year
    from {{ ref('int_observations_unioned') }} as u
    where not exists (
        select 1 from (select distinct source_type, source_id from {{ this }}) as seen
        where seen.source_type = u.source_type and seen.source_id = u.source_id
    )
    union
    select distinct r.district_code, r.indicator_code, r.year
    from {{ ref('stg_raw__value_reviews') }} as r
    where r.recorded_at > {{ citycheck.last_built_at(this) }} - interval '1 day'
    union
    select distinct u.district_code, u.indicator_code, u.year
    from {{ ref('int_observations_unioned') }} as u
    inner join (
        select distinct city_code, year from {{ ref('stg_raw__round_events') }}
        where event in ('closed', 'reopened')
            and recorded_at > {{ citycheck.last_built_at(this) }} - interval '1 day'
    ) as e on e.city_code = u.city_code and e.year = u.year
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

reviewed as (
    select
        o.*,
        coalesce(rs.review_state, 'accepted') as review_state,
        coalesce(rnd.closed_at is not null and o.received_at > rnd.closed_at, false)
            as after_round_closed
    from observations as o
    left join {{ ref('int_value_review_states') }} as rs
        on o.source_type = 'submission' and rs.file_hash = o.source_id
        and rs.record_number = o.source_record
    left join {{ ref('int_rounds') }} as rnd
        on rnd.city_code = o.city_code and rnd.year = o.year
),

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
    from reviewed
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
        version_number > 1 and value is distinct from previous_version_value as changes_value,
        review_state in ('accepted', 'confirmed') and not after_round_closed as is_publishable
    from with_previous
),

-- Which version is current (seeds/source_precedence.csv): of the publishable versions, the
-- newest from the indicator's preferred source when it has one, else the newest from any
-- source. A key with no publishable version has no current one (nothing is published).
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
            order by case when f.is_publishable then 0 else 1 end,
                case when f.source_type = p.preferred_source_type then 0 else 1 end,
                f.version_number desc
        ) as current_rank
    from flagged as f
    left join {{ ref('source_precedence') }} as p on p.indicator_code = f.indicator_code
),

chosen as (
    select
        *,
        current_rank = 1 and is_publishable as is_current
    from ranked
),

with_current as (
    select
        *,
        max(case when is_current then version_number end) over (
            partition by district_code, indicator_code, year
        ) as current_version_number
    from chosen
)

select
    *,
    -- the figure's revisions among the versions that could be published
    cast(sum(case when changes_value and is_publishable then 1 else 0 end) over (
        partition by district_code, indicator_code, year
    ) as integer) as revision_count,
    -- a version newer than the published one waits for review
    coalesce(max(case
        when review_state in ('held', 'returned', 'answered')
            and version_number > coalesce(current_version_number, 0) then 1 else 0 end
    ) over (partition by district_code, indicator_code, year), 0) = 1 as under_review,
    {{ citycheck.built_at() }} as built_at,
    case
        when not from_both_sources then 'newest version'
        when preferred_source_type is not null
            then 'preferred source ' || preferred_source_type || ': ' || precedence_why_en
                || ' / ' || precedence_why_zh
        else 'newest version of the department file and open data (no precedence rule) / '
            || '部门报送与开放数据取最新'
    end as current_because
from with_current
