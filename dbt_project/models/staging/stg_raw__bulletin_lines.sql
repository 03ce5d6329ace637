select
    bulletin_id,
    subject_kind,
    subject_code,
    rank_in_city,
    score,
    listed,
    listed_because_zh,
    listed_because_en,
    days_late,
    days_overdue,
    values_missing,
    values_returned,
    values_corrected,
    index_score,
    index_change,
    attainment_pct
from {{ source('raw', 'bulletin_lines') }}
