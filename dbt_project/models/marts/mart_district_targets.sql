-- Each district's targets of a year, met and missed, and the districts ranked on the share met
-- (seed 003: "综合考评区县……排出名次"). From the scorecard's district rows with a target:
-- the city's own targets.csv rows for one district and the recurring rules of
-- district_targets.csv ("各区县每年要建成3处以上街头游园"), each district and year its own.
-- attainment_pct = met / (met + missed) x 100; a target without a value yet is pending and
-- counts in neither. 1 = the best share; ties share a rank; no judged target, no rank.
with judged as (
    select
        city_code, district_code, district_name_zh, year,
        count(*) as targets_due,
        count(case when target_met then 1 end) as targets_met,
        count(case when not target_met then 1 end) as targets_missed,
        count(case when target_met is null then 1 end) as targets_pending
    from {{ ref('mart_indicator_scorecard') }}
    where target_id is not null and not is_city_total
    group by city_code, district_code, district_name_zh, year
),

shares as (
    select
        *,
        {{ citycheck.round_to("100.0 * targets_met / nullif(targets_met + targets_missed, 0)",
                              1) }} as attainment_pct
    from judged
)

select
    district_code || '|' || cast(year as text) as district_year_id,
    city_code,
    district_code,
    district_name_zh,
    year,
    targets_due,
    targets_met,
    targets_missed,
    targets_pending,
    attainment_pct,
    case when attainment_pct is not null then rank() over (
        partition by city_code, year, attainment_pct is null order by attainment_pct desc
    ) end as rank_in_city,
    count(attainment_pct) over (partition by city_code, year) as districts_ranked
from shares
