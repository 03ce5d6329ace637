-- Every file: rows read = accepted + rejected + ignored, and the landed rows say the same.
with landed as (
    select
        file_hash,
        count(*) as n,
        count(case when row_status = 'accepted' then 1 end) as accepted,
        count(case when row_status = 'rejected' then 1 end) as rejected,
        count(case when row_status = 'ignored' then 1 end) as ignored
    from {{ ref('stg_raw__submission_rows') }}
    group by file_hash
)

select f.file_hash, f.original_name
from {{ ref('stg_raw__submission_files') }} as f
left join landed as l on l.file_hash = f.file_hash
where f.rows_read <> f.rows_accepted + f.rows_rejected + f.rows_ignored
   or (f.file_status = 'loaded' and (
        coalesce(l.n, 0) <> f.rows_read
        or coalesce(l.accepted, 0) <> f.rows_accepted
        or coalesce(l.rejected, 0) <> f.rows_rejected
        or coalesce(l.ignored, 0) <> f.rows_ignored))
