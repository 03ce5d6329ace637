-- Every reporting round opened so far, as its events leave it (raw.round_events, appended by
-- citycheck/warehouse/rounds.py): when it opened and who opened it (the calendar, or the office
-- early), when its figures are due (the latest opened or reopened event's deadline), and
-- whether its last event closed it. mart_rounds adds what the round holds.
with events as (
    select
        *,
        row_number() over (
            partition by city_code, year order by recorded_at desc, event_id desc
        ) as newest_first,
        row_number() over (
            partition by city_code, year order by recorded_at, event_id
        ) as oldest_first
    from {{ ref('stg_raw__round_events') }}
),

deadlines as (
    select
        city_code,
        year,
        due_on,
        row_number() over (
            partition by city_code, year order by recorded_at desc, event_id desc
        ) as newest_first
    from {{ ref('stg_raw__round_events') }}
    where event in ('opened', 'reopened') and due_on is not null
)

select
    o.programme_code,
    o.city_code,
    o.year,
    o.recorded_at as opened_at,
    o.recorded_by as opened_by,
    d.due_on,
    l.event as last_event,
    l.recorded_at as last_event_at,
    case when l.event = 'closed' then l.recorded_at end as closed_at,
    case when l.event = 'closed' then l.recorded_by end as closed_by,
    case when l.event = 'closed' then l.reason end as close_reason,
    case when l.event = 'closed' then l.detail end as close_detail
from events as o
inner join events as l
    on l.city_code = o.city_code and l.year = o.year and l.newest_first = 1
left join deadlines as d
    on d.city_code = o.city_code and d.year = o.year and d.newest_first = 1
where o.oldest_first = 1
