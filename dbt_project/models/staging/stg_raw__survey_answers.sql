-- Every answer of every accepted respondent of the survey that stands for its city and year:
-- the file received last (a later file replaces an earlier one; both stay in raw).
with files as (
    select
        file_hash, original_name, city_code, year, received_at,
        row_number() over (
            partition by city_code, year order by received_at desc, file_hash desc
        ) as newest
    from {{ source('raw', 'survey_files') }}
)

select
    f.file_hash,
    f.original_name as source_file,
    f.city_code,
    f.year,
    r.row_number,
    r.respondent_id,
    r.district_code,
    r.weight,
    a.item,
    a.answer
from files as f
inner join {{ source('raw', 'survey_rows') }} as r
    on r.file_hash = f.file_hash and r.status = 'accepted'
inner join {{ source('raw', 'survey_answers') }} as a
    on a.file_hash = r.file_hash and a.row_number = r.row_number
where f.newest = 1
