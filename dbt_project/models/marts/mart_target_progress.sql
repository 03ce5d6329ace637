-- Progress towards every target, per district (or city), indicator and target year.
--
-- attainment: met / not_met when the target year has a value; pending before the target year
-- (or while its value is missing).
--
-- progress_class (level targets; docs/analysts.md): the Open SDG / Statistics Canada method.
-- Between the base year t0 (the target's base year, else the first year with a value) and the
-- assessed year t (the target year if it has a value, else the latest year before it):
--   observed growth = (x_t / x_t0)^(1 / (t - t0)) - 1
--   needed growth   = (target / x_t0)^(1 / (T - t0)) - 1
--   ratio = observed / needed:  >= 0.95 on_track, 0.60-0.95 needs_acceleration,
--                               0-0.60 limited_progress, < 0 deterioration.
-- A target already met in year t is target_met; one the base year met but year t misses is
-- deterioration (the ratio of two growths pointing away from the target means nothing).
-- Not computable with no two years of values, a value <= 0, or a target that needs no change.
--
-- An "increase" target (so many more than in the base year, by the target year) compares what
-- was added with what is needed at a steady pace: ratio = ((x_t - x_t0) / target) /
-- ((t - t0) / (T - t0)), classed by the same thresholds; target_met once the increase is
-- reached.
with targets as (
    select t.*, i.direction, i.indicator_name_zh, i.unit
    from {{ ref('fct_indicator_targets') }} as t
    inner join {{ ref('dim_indicator') }} as i on i.indicator_code = t.indicator_code
),

observed as (
    -- the city's own rows are the scorecard's city totals (rolled up or reported); only
    -- those of a district and indicator with a target: read three times below, this is
    -- written out whole first (DuckDB materializes such a CTE), and the scorecard at
    -- national scale is millions of rows, most of them without any target
    select sc.district_code, sc.indicator_code, sc.year, sc.value
    from {{ ref('mart_indicator_scorecard') }} as sc
    where sc.value is not null
        and exists (select 1 from targets as t where t.district_code = sc.district_code
                    and t.indicator_code = sc.indicator_code)
),

spans as (
    select
        t.target_id,
        coalesce(t.base_year, min(o.year)) as base_year_used,
        max(case when o.year <= t.target_year then o.year end) as assessed_year
    from targets as t
    left join observed as o
        on o.district_code = t.district_code and o.indicator_code = t.indicator_code
    group by t.target_id, t.base_year
),

valued as (
    select
        t.*,
        s.base_year_used,
        s.assessed_year,
        b.value as base_value,
        a.value as assessed_value,
        sc.compared_value as target_year_compared_value,
        sc.target_met as target_year_met
    from targets as t
    inner join spans as s on s.target_id = t.target_id
    left join observed as b
        on b.district_code = t.district_code and b.indicator_code = t.indicator_code
        and b.year = s.base_year_used
    left join observed as a
        on a.district_code = t.district_code and a.indicator_code = t.indicator_code
        and a.year = s.assessed_year
    left join {{ ref('mart_indicator_scorecard') }} as sc
        on sc.target_id = t.target_id
),

judged_values as (
    -- what the target is judged on in the assessed year: the value, or for an increase
    -- target what was added since the base year
    select
        *,
        case when basis = 'increase' then assessed_value - base_value else assessed_value end
            as judged_value
    from valued
),

judged as (
    select
        *,
        case
            when comparator in ('>=', '>') then judged_value >= target_value
            when comparator in ('<=', '<') then judged_value <= target_value
            else abs(judged_value - target_value) < 1e-9
        end as met_in_assessed_year,
        case
            when basis = 'increase' and assessed_year > base_year_used
                and target_year > base_year_used and target_value <> 0
            then (judged_value / target_value)
                / ((assessed_year - base_year_used) * 1.0 / (target_year - base_year_used))
        end as increase_ratio,
        case
            when basis = 'level' and assessed_year > base_year_used and base_value > 0
                and assessed_value > 0 and target_value > 0 and target_value <> base_value
                and target_year > base_year_used
            then power(assessed_value / base_value, 1.0 / (assessed_year - base_year_used)) - 1
        end as observed_growth,
        case
            when basis = 'level' and base_value > 0 and target_value > 0
                and target_value <> base_value and target_year > base_year_used
            then power(target_value / base_value, 1.0 / (target_year - base_year_used)) - 1
        end as needed_growth
    from judged_values
)

select
    target_id,
    city_code,
    district_code,
    district_key,
    indicator_code,
    indicator_name_zh,
    unit,
    direction,
    target_year,
    basis,
    comparator,
    target_value,
    target_text_zh,
    source_document,
    case
        when target_year_met then 'met'
        when target_year_met = false then 'not_met'
        else 'pending'
    end as attainment,
    target_year_compared_value,
    base_year_used as base_year,
    base_value,
    assessed_year,
    assessed_value,
    {{ citycheck.round_to("observed_growth", 6) }} as observed_annual_growth,
    {{ citycheck.round_to("needed_growth", 6) }} as needed_annual_growth,
    {{ citycheck.round_to("coalesce(observed_growth / nullif(needed_growth, 0), increase_ratio)",
                          4) }} as progress_ratio,
    case
        when basis = 'increase' then case
            when assessed_value is not null and met_in_assessed_year then 'target_met'
            when increase_ratio is null then 'not_computable'
            when increase_ratio >= 0.95 then 'on_track'
            when increase_ratio >= 0.60 then 'needs_acceleration'
            when increase_ratio >= 0 then 'limited_progress'
            else 'deterioration'
        end
        when basis <> 'level' then null
        when assessed_value is not null and met_in_assessed_year then 'target_met'
        -- the base year already met the target (the needed change points away from it):
        -- missing it now is deterioration
        when needed_growth is not null and (
            (comparator in ('>=', '>') and needed_growth <= 0)
            or (comparator in ('<=', '<') and needed_growth >= 0)) then 'deterioration'
        when observed_growth is null or needed_growth is null then 'not_computable'
        when observed_growth / needed_growth >= 0.95 then 'on_track'
        when observed_growth / needed_growth >= 0.60 then 'needs_acceleration'
        when observed_growth / needed_growth >= 0 then 'limited_progress'
        else 'deterioration'
    end as progress_class
from judged
