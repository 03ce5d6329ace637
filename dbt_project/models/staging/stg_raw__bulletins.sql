select
    bulletin_id,
    city_code,
    year,
    number,
    as_of,
    issued_at,
    issued_by,
    publication_id,
    page,
    landed_at
from {{ source('raw', 'bulletins') }}
