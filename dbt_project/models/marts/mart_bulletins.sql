-- 通报 Every bulletin issued (`citycheck bulletin`, the office page, the weekly DAG), one row
-- each, as landed by the build from the record kept beside its page
-- (citycheck/warehouse/bulletins.py): its number in the city's round, the day it counted to,
-- who issued it, the publication its figures are from, and the districts it commended
-- (通报表扬) and listed for interview (约谈). What it said of each department and district:
-- mart_bulletin_lines.
with lines as (
    select
        bulletin_id,
        count(*) filter (where subject_kind = 'department') as departments_named,
        count(*) filter (where subject_kind = 'district') as districts_named,
        count(*) filter (where listed = 'commend') as districts_commended,
        count(*) filter (where listed = 'interview') as districts_interviewed,
        {{ dbt.listagg("case when listed = 'commend' then subject_name_zh end", "'、'",
                       "order by rank_in_city, subject_code") }} as commended_zh,
        {{ dbt.listagg("case when listed = 'interview' then subject_name_zh end", "'、'",
                       "order by rank_in_city, subject_code") }} as interviewed_zh
    from {{ ref('mart_bulletin_lines') }}
    group by bulletin_id
)

select
    b.bulletin_id,
    b.city_code,
    c.name_zh as city_name_zh,
    c.name_en as city_name_en,
    b.year,
    cast(b.number as integer) as number,
    b.as_of,
    b.issued_at,
    b.issued_by,
    b.publication_id,
    b.page,
    coalesce(l.departments_named, 0) as departments_named,
    coalesce(l.districts_named, 0) as districts_named,
    coalesce(l.districts_commended, 0) as districts_commended,
    coalesce(l.districts_interviewed, 0) as districts_interviewed,
    l.commended_zh,
    l.interviewed_zh
from {{ ref('stg_raw__bulletins') }} as b
inner join {{ ref('cities') }} as c on c.city_code = b.city_code
left join lines as l on l.bulletin_id = b.bulletin_id
