-- The resident survey's estimates (城市人居环境满意度, seed 001), per district (and the city as
-- a whole), year and aspect, with their uncertainty (docs/surveys.md):
--   satisfied_pct  = 100 x sum(w | answer 4 or 5) / sum(w)          over those who answered
--   effective_n    = sum(w)^2 / sum(w^2)                            (Kish: weights cost precision)
--   standard_error = 100 x sqrt(p (1 - p) / effective_n)
--   95 % interval  = Wilson's score interval on p with n = effective_n, z = 1.959964
-- Fewer than var('survey_min_respondents') respondents answering: suppressed — no estimate,
-- no interval, only the count, wherever the estimate would appear.
with answered as (
    select
        city_code, district_code, year, item, source_file, weight,
        case when answer >= 4 then 1.0 else 0.0 end as satisfied
    from {{ ref('stg_raw__survey_answers') }}
    where answer is not null
),

both_levels as (
    select city_code, district_code, year, item, source_file, weight, satisfied from answered
    union all
    select city_code, city_code, year, item, source_file, weight, satisfied from answered
),

sums as (
    select
        city_code, district_code, year, item,
        min(source_file) as source_file,
        count(*) as respondents,
        sum(weight) as sw,
        sum(weight * weight) as sw2,
        sum(weight * satisfied) / sum(weight) as p
    from both_levels
    group by city_code, district_code, year, item
),

wilson as (
    select
        *,
        sw * sw / sw2 as n_eff,
        1.959964 as z
    from sums
),

bounds as (
    select
        *,
        (p + z * z / (2 * n_eff)) / (1 + z * z / n_eff) as centre,
        z * sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff * n_eff)) / (1 + z * z / n_eff)
            as half_width
    from wilson
)

select
    b.district_code || '|' || cast(b.year as text) || '|' || b.item as estimate_id,
    b.city_code,
    b.district_code,
    d.district_name_zh,
    b.district_code = b.city_code as is_city_total,
    b.year,
    b.item,
    l.label_zh as item_name_zh,
    l.label_en as item_name_en,
    b.respondents,
    b.respondents < {{ var('survey_min_respondents') }} as suppressed,
    case when b.respondents >= {{ var('survey_min_respondents') }}
        then {{ citycheck.round_to("n_eff", 1) }} end as effective_n,
    case when b.respondents >= {{ var('survey_min_respondents') }}
        then {{ citycheck.round_to("100 * p", 2) }} end as satisfied_pct,
    case when b.respondents >= {{ var('survey_min_respondents') }}
        then {{ citycheck.round_to("100 * sqrt(p * (1 - p) / n_eff)", 2) }}
    end as standard_error_pct,
    case when b.respondents >= {{ var('survey_min_respondents') }}
        then {{ citycheck.round_to("100 * (centre - half_width)", 2) }} end as ci_low_pct,
    case when b.respondents >= {{ var('survey_min_respondents') }}
        then {{ citycheck.round_to("100 * (centre + half_width)", 2) }} end as ci_high_pct,
    b.source_file
from bounds as b
left join {{ ref('dim_district') }} as d
    on d.district_code = b.district_code and {{ citycheck.valid_in_year('d', 'b.year') }}
left join {{ ref('dim_code_label') }} as l
    on l.code_type = 'survey_item' and l.code = b.item
