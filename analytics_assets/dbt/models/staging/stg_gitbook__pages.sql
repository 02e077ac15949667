-- One row per page of each space's current revision; groups and links are pages too (page_type).
select
    space_id,
    id as page_id,
    parent_page_id,
    type as page_type,
    title as page_title,
    path as page_path,
    revision_id
from {{ source('gitbook', 'content') }}
