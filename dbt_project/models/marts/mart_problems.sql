-- 问题清单 The problem list of each closed round (seed 004: "持续开展不精致问题排查整治"): every
-- target missed (target_missed; bottom_line_breached for a bottom-line 底线 indicator) by a
-- district or the city, and every city indicator that moved the wrong way since the year
-- before (deteriorated: by its direction; a band indicator, farther from its band). A round
-- still open has no problems yet: its figures may change.
-- The office fills in cause, measure, deadline and status (open / in_progress / rectified)
-- as appended steps (raw.problem_updates, citycheck/warehouse/problems.py); the latest step
-- stands, and `updates` counts the history (fct-style history: stg_raw__problem_updates).
-- A problem is proposed as rectified (proposed_rectified) when a later year's value of the
-- same district and indicator meets the missed target (its comparator and level; for an
-- increase target, a later year's own target met), or, deteriorated, is better than the
-- problem year's value — until the office sets it rectified. Overdue (deadline passed, not
-- rectified) is counted by whoever reads, on the day they read.
with closed as (
    select city_code, year from {{ ref('mart_rounds') }} where not is_provisional
),

-- not materialized: DuckDB writes a CTE read more than once to a temporary table first, at
-- L 3.4 million scorecard rows (118 MB) even when no round is closed; inlined, each reader
-- filters it first (at L: 3.3-3.9 s -> 0.5-0.7 s with no round closed, 5.7-5.9 s -> 0.7-0.9 s
-- with every round closed, the same rows out)
scorecard as not materialized (
    select s.*, i.indicator_type, i.chc_dimension_code, i.chc_dimension_en, i.band_low,
        i.band_high
    from {{ ref('mart_indicator_scorecard') }} as s
    inner join {{ ref('dim_indicator') }} as i on i.indicator_code = s.indicator_code
),

found as (
    select
        s.*,
        case when s.indicator_type = 'bottom_line' then 'bottom_line_breached'
            else 'target_missed' end as problem_kind
    from scorecard as s
    inner join closed as c on c.city_code = s.city_code and c.year = s.year
    where s.target_met = false
    union all
    select s.*, 'deteriorated' as problem_kind
    from scorecard as s
    inner join closed as c on c.city_code = s.city_code and c.year = s.year
    where s.is_city_total and s.target_met is distinct from false
        and s.value is not null and s.previous_year_value is not null
        and case s.direction
            when 'higher_better' then s.value < s.previous_year_value
            when 'lower_better' then s.value > s.previous_year_value
            else greatest(s.band_low - s.value, s.value - s.band_high, 0)
                > greatest(s.band_low - s.previous_year_value,
                           s.previous_year_value - s.band_high, 0)
        end
),

evidence as (
    -- the first later year that would rectify the problem
    select f.scorecard_id, min(l.year) as evidence_year
    from found as f
    inner join scorecard as l
        on l.district_code = f.district_code and l.indicator_code = f.indicator_code
        and l.year > f.year and l.value is not null
    where case
        when f.problem_kind = 'deteriorated' then case f.direction
            when 'higher_better' then l.value > f.value
            when 'lower_better' then l.value < f.value
            else greatest(f.band_low - l.value, l.value - f.band_high, 0)
                < greatest(f.band_low - f.value, f.value - f.band_high, 0) end
        when f.target_basis = 'increase' then l.target_met
        when f.comparator = '>=' then l.value >= f.target_value
        when f.comparator = '>' then l.value > f.target_value
        when f.comparator = '<=' then l.value <= f.target_value
        when f.comparator = '<' then l.value < f.target_value
        when f.comparator = '=' then l.value = f.target_value
    end
    group by f.scorecard_id
),

updates as (
    select
        *,
        row_number() over (partition by problem_id order by recorded_at desc, update_id desc)
            as recency,
        count(*) over (partition by problem_id) as update_count
    from {{ ref('stg_raw__problem_updates') }}
),

problems as (
    select
        f.city_code || '|' || cast(f.year as text) || '|' || f.district_code || '|'
            || f.indicator_code || '|' || f.problem_kind as problem_id,
        f.*
    from found as f
)

select
    p.problem_id,
    p.city_code,
    p.year,
    p.district_code,
    p.district_name_zh,
    p.is_city_total,
    p.indicator_code,
    p.indicator_name_zh,
    p.indicator_name_en,
    p.unit,
    p.direction,
    p.chc_dimension_code as dimension_code,
    p.chc_dimension_zh as dimension_name_zh,
    p.chc_dimension_en as dimension_name_en,
    p.department_code,
    dep.department_name_zh,
    dep.department_name_en,
    p.problem_kind,
    p.scorecard_id,
    p.value,
    p.previous_year_value,
    p.comparator,
    p.target_value,
    p.target_basis,
    p.compared_value,
    coalesce(u.status, 'open') as status,
    u.cause,
    u.measure,
    u.deadline,
    u.recorded_at as last_update_at,
    u.recorded_by as last_update_by,
    u.update_id as last_update_id,
    coalesce(u.update_count, 0) as updates,
    e.evidence_year,
    l.value as evidence_value,
    l.scorecard_id as evidence_scorecard_id,
    e.evidence_year is not null and coalesce(u.status, 'open') <> 'rectified'
        as proposed_rectified
from problems as p
inner join {{ ref('dim_department') }} as dep on dep.department_code = p.department_code
left join updates as u on u.problem_id = p.problem_id and u.recency = 1
left join evidence as e on e.scorecard_id = p.scorecard_id
left join {{ ref('mart_indicator_scorecard') }} as l
    on l.district_code = p.district_code and l.indicator_code = p.indicator_code
    and l.year = e.evidence_year
