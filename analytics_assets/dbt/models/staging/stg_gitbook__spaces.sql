select
    id as space_id,
    organization_id,
    title as space_title,
    visibility,
    created_at,
    updated_at
from {{ source('gitbook', 'spaces') }}
