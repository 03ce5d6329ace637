-- 部门考核 The assessment of each department, per city and reporting year of an opened round
-- ("实行定期调度、定期通报、定期考核制度", seed 000; "纳入市级目标绩效管理考核", seeds 000/001).
-- Method (docs/assessment.md, with a worked example; weights in seeds/assessment_weights.csv):
--   timeliness   = 100 - assessment_late_penalty_per_day x days_late, not below 0; days_late =
--                  days from the round's deadline (due_on) to the latest first arrival of one
--                  of the department's values (Beijing date); a value still owed when the
--                  round closed counts to the day it closed. While the round is open, owed
--                  values are not counted yet (is_provisional; readers count days overdue on
--                  the day they read, as everywhere); nothing arrived yet: null.
--   completeness = 100 x values_present / values_expected (mart_submission_status)
--   accuracy     = 100 x (1 - (values_returned + values_corrected + records_rejected)
--                  / values_expected), not below 0: values the office returned in review,
--                  values a later file changed, records refused at intake; null while no
--                  record has arrived
--   attainment   = 100 x targets_met / (targets_met + targets_missed) of the indicators the
--                  department answers for, that year (district and city targets); none judged:
--                  null, and the score is the weighted mean of the other components
--   score        = weighted mean of the components present (a null one is left out and the
--                  other weights count); rank_in_city 1 = best, ties share.
with status as (
    select
        s.city_code, s.year, s.department_code, s.department_name_zh, s.department_name_en,
        s.values_expected, s.values_present, s.values_missing, s.records_received,
        s.records_rejected, s.due_on
    from {{ ref('mart_submission_status') }} as s
    where s.values_expected > 0
),

rounds as (
    select city_code, year, closed_at, not is_provisional as round_closed
    from {{ ref('mart_rounds') }}
),

first_arrivals as (
    -- when each of the department's values first arrived (its first version), Beijing date:
    -- in its files, or — a department fed by an open-data portal — when citycheck fetched it
    select
        v.city_code, v.year, v.department_code,
        max(cast(v.received_at + interval '8 hours' as date)) as last_first_arrival
    from {{ ref('fct_indicator_value_versions') }} as v
    where v.version_number = 1
    group by v.city_code, v.year, v.department_code
),

corrected as (
    select city_code, year, department_code, count(*) as values_corrected
    from (
        select distinct city_code, year, department_code, district_code, indicator_code
        from {{ ref('fct_indicator_value_versions') }}
        where changes_value and source_type = 'submission'
    ) as changed
    group by city_code, year, department_code
),

returned as (
    select city_code, year, department_code, count(distinct review_item_id) as values_returned
    from {{ ref('fct_value_reviews') }}
    where action = 'return'
    group by city_code, year, department_code
),

targets as (
    select
        s.city_code, s.year, i.department_code,
        count(case when s.target_met then 1 end) as targets_met,
        count(case when not s.target_met then 1 end) as targets_missed
    from {{ ref('mart_indicator_scorecard') }} as s
    inner join {{ ref('dim_indicator') }} as i on i.indicator_code = s.indicator_code
    where s.target_id is not null
    group by s.city_code, s.year, i.department_code
),

measured as (
    select
        s.*,
        coalesce(r.round_closed, false) as round_closed,
        coalesce(c.values_corrected, 0) as values_corrected,
        coalesce(rt.values_returned, 0) as values_returned,
        coalesce(t.targets_met, 0) as targets_met,
        coalesce(t.targets_missed, 0) as targets_missed,
        case when a.last_first_arrival is not null or (s.values_missing > 0 and r.round_closed)
            then greatest(0, cast(greatest(
                a.last_first_arrival,
                case when s.values_missing > 0 and r.round_closed
                    then cast(r.closed_at + interval '8 hours' as date) end
            ) - s.due_on as integer))
        end as days_late
    from status as s
    left join rounds as r on r.city_code = s.city_code and r.year = s.year
    left join first_arrivals as a
        on a.city_code = s.city_code and a.year = s.year and a.department_code = s.department_code
    left join corrected as c
        on c.city_code = s.city_code and c.year = s.year and c.department_code = s.department_code
    left join returned as rt
        on rt.city_code = s.city_code and rt.year = s.year
        and rt.department_code = s.department_code
    left join targets as t
        on t.city_code = s.city_code and t.year = s.year and t.department_code = s.department_code
),

components as (
    select
        *,
        case when days_late is not null then greatest(0.0,
            100.0 - {{ var('assessment_late_penalty_per_day') }} * days_late) end
            as timeliness_score,
        100.0 * values_present / values_expected as completeness_score,
        case when records_received > 0 then greatest(0.0, 100.0 * (1 - 1.0
            * (values_returned + values_corrected + records_rejected) / values_expected))
        end as accuracy_score,
        case when targets_met + targets_missed > 0
            then 100.0 * targets_met / (targets_met + targets_missed) end as attainment_score
    from measured
),

weights as (
    select
        max(case when component = 'timeliness' then weight end) as w_timeliness,
        max(case when component = 'completeness' then weight end) as w_completeness,
        max(case when component = 'accuracy' then weight end) as w_accuracy,
        max(case when component = 'attainment' then weight end) as w_attainment
    from {{ ref('assessment_weights') }}
    where subject = 'department'
),

scored as (
    select
        c.*,
        (coalesce(c.timeliness_score * w.w_timeliness, 0)
            + c.completeness_score * w.w_completeness
            + coalesce(c.accuracy_score * w.w_accuracy, 0)
            + coalesce(c.attainment_score * w.w_attainment, 0))
        / (case when c.timeliness_score is not null then w.w_timeliness else 0 end
            + w.w_completeness
            + case when c.accuracy_score is not null then w.w_accuracy else 0 end
            + case when c.attainment_score is not null then w.w_attainment else 0 end)
            as weighted_score
    from components as c
    cross join weights as w
)

select
    city_code || '|' || cast(year as text) || '|' || department_code as assessment_id,
    city_code,
    year,
    department_code,
    department_name_zh,
    department_name_en,
    due_on,
    days_late,
    values_expected,
    values_present,
    values_missing,
    values_returned,
    values_corrected,
    records_rejected,
    targets_met,
    targets_missed,
    {{ citycheck.round_to("timeliness_score", 1) }} as timeliness_score,
    {{ citycheck.round_to("completeness_score", 1) }} as completeness_score,
    {{ citycheck.round_to("accuracy_score", 1) }} as accuracy_score,
    {{ citycheck.round_to("attainment_score", 1) }} as attainment_score,
    {{ citycheck.round_to("weighted_score", 1) }} as score,
    {{ citycheck.rank_in_city("weighted_score") }} as rank_in_city,
    count(*) over (partition by city_code, year) as departments_assessed,
    not round_closed as is_provisional
from scored
