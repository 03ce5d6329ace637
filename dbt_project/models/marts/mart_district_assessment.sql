-- 区县考核 The districts' assessment, per city and year, as seed 003 asks ("综合考评区县城市
-- 品质提升工作，排出名次并予以公布"). Method (docs/assessment.md; weights in
-- seeds/assessment_weights.csv, subject district):
--   index      = the district's overall score on the base-year index (mart_dimension_index)
--   attainment = attainment_pct of mart_district_targets (targets met / judged, that year)
--   progress   = 50 + (overall score - the year before's), bounded to 0 … 100 (50: no change)
--   score      = weighted mean of the components present (a component without data that year
--                is left out and the other weights count); rank_in_city 1 = best, ties share.
with overall as (
    select city_code, district_code, district_key, district_name_zh, year, score
    from {{ ref('mart_dimension_index') }}
    where dimension_code = 'overall'
),

attainment as (
    select city_code, district_code, year, attainment_pct, targets_met, targets_missed
    from {{ ref('mart_district_targets') }}
),

units as (
    select city_code, district_code, year from overall
    union
    select city_code, district_code, year from attainment where attainment_pct is not null
),

measured as (
    select
        u.city_code, u.district_code, u.year,
        coalesce(o.district_name_zh, dd.district_name_zh) as district_name_zh,
        o.score as index_score,
        a.attainment_pct,
        coalesce(a.targets_met, 0) as targets_met,
        coalesce(a.targets_missed, 0) as targets_missed,
        o.score - p.score as index_change
    from units as u
    inner join {{ ref('dim_district') }} as dd
        on dd.district_code = u.district_code and {{ citycheck.valid_in_year('dd', 'u.year') }}
    left join overall as o
        on o.district_code = u.district_code and o.year = u.year
    left join overall as p
        on p.district_code = u.district_code and p.year = u.year - 1
    left join attainment as a
        on a.district_code = u.district_code and a.year = u.year
),

weights as (
    select
        max(case when component = 'index' then weight end) as w_index,
        max(case when component = 'attainment' then weight end) as w_attainment,
        max(case when component = 'progress' then weight end) as w_progress
    from {{ ref('assessment_weights') }}
    where subject = 'district'
),

components as (
    select
        m.*,
        case when m.index_change is not null
            then least(100.0, greatest(0.0, 50 + m.index_change)) end as progress_score,
        w.w_index, w.w_attainment, w.w_progress
    from measured as m
    cross join weights as w
),

scored as (
    select
        *,
        (coalesce(index_score * w_index, 0) + coalesce(attainment_pct * w_attainment, 0)
            + coalesce(progress_score * w_progress, 0))
        / nullif(case when index_score is not null then w_index else 0 end
            + case when attainment_pct is not null then w_attainment else 0 end
            + case when progress_score is not null then w_progress else 0 end, 0)
            as weighted_score
    from components
)

select
    district_code || '|' || cast(year as text) as district_assessment_id,
    city_code,
    district_code,
    district_name_zh,
    year,
    index_score,
    {{ citycheck.round_to("index_change", 4) }} as index_change,
    attainment_pct,
    targets_met,
    targets_missed,
    {{ citycheck.round_to("progress_score", 1) }} as progress_score,
    {{ citycheck.round_to("weighted_score", 1) }} as score,
    {{ citycheck.rank_in_city("weighted_score") }} as rank_in_city,
    count(*) over (partition by city_code, year) as districts_assessed
from scored
