select
    department_code,
    name_zh as department_name_zh,
    name_en as department_name_en
from {{ ref('departments') }}
