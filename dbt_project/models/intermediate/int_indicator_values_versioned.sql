-- Every version of every value. A later file or fetch for the same district, indicator and
-- year supersedes the earlier one; the earlier version stays here, queryable.
with ordered as (
    select
        *,
        row_number() over (
            partition by district_code, indicator_code, year
            order by received_at, source_id, source_row
        ) as version_number,
        count(*) over (partition by district_code, indicator_code, year) as version_count,
        min(received_at) over (partition by district_code, indicator_code, year)
            as first_received_at
    from {{ ref('int_observations_unioned') }}
)

select
    *,
    lag(value) over (
        partition by district_code, indicator_code, year order by version_number
    ) as previous_version_value,
    version_number = version_count as is_current
from ordered
