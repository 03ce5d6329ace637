-- Chinese and English labels for every code the marts use (progress classes, attainment,
-- quality flags …): BI tools join on (code_type, code) instead of showing snake_case.
select
    code_type || ':' || code as label_id,
    code_type,
    code,
    label_zh,
    label_en,
    description
from {{ ref('code_labels') }}
