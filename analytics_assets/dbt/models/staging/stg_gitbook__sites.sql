select
    id as site_id,
    organization_id,
    title as site_title,
    hostname,
    visibility,
    coalesce(published, false) as is_published
from {{ source('gitbook', 'sites') }}
