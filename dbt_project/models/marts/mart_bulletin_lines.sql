-- 通报内容 What each issued bulletin (通报) said of each department and district it named, as
-- printed: the figures are those of the publication it was made from (raw.bulletin_lines,
-- landed by the build from the bulletin's record: citycheck/warehouse/bulletins.py), never
-- recomputed. Departments: rank, score, days late and overdue, values missing, returned and
-- corrected; districts: rank, score, index, its change and the share of targets met, and
-- whether the rules of seeds/bulletin_rules.csv commended it (通报表扬) or listed it for
-- interview (约谈), and why.
select
    l.bulletin_id || '|' || l.subject_kind || '|' || l.subject_code as bulletin_line_id,
    l.bulletin_id,
    b.city_code,
    b.year,
    b.number,
    b.issued_at,
    l.subject_kind,
    l.subject_code,
    coalesce(dep.name_zh, dd.district_name_zh) as subject_name_zh,
    coalesce(dep.name_en, dd.district_name_en) as subject_name_en,
    cast(l.rank_in_city as integer) as rank_in_city,
    l.score,
    l.listed,
    l.listed_because_zh,
    l.listed_because_en,
    cast(l.days_late as integer) as days_late,
    cast(l.days_overdue as integer) as days_overdue,
    cast(l.values_missing as integer) as values_missing,
    cast(l.values_returned as integer) as values_returned,
    cast(l.values_corrected as integer) as values_corrected,
    l.index_score,
    l.index_change,
    l.attainment_pct
from {{ ref('stg_raw__bulletin_lines') }} as l
inner join {{ ref('stg_raw__bulletins') }} as b on b.bulletin_id = l.bulletin_id
left join {{ ref('departments') }} as dep
    on l.subject_kind = 'department' and dep.department_code = l.subject_code
left join {{ ref('dim_district') }} as dd
    on l.subject_kind = 'district' and dd.district_code = l.subject_code
    and {{ citycheck.valid_in_year('dd', 'b.year') }}
