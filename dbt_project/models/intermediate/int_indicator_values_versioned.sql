-- Every version of every value. A later file or fetch for the same district, indicator and
-- year supersedes the earlier one; the earlier version stays here, queryable.
with ordered as (
    select
        *,
        row_number() over (
            partition by district_code, indicator_code, year
            order by received_at, source_id, source_row, source_cell
        ) as version_number,
        count(*) over (partition by district_code, indicator_code, year) as version_count,
        min(received_at) over (partition by district_code, indicator_code, year)
            as first_received_at
    from {{ ref('int_observations_unioned') }}
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
)

select
    *,
    cast(sum(case when changes_value then 1 else 0 end) over (
        partition by district_code, indicator_code, year
    ) as integer) as revision_count,
    version_number = version_count as is_current
from flagged
