select
    id as organization_id,
    title as organization_title,
    plan,
    created_at
from {{ source('gitbook', 'organizations') }}
