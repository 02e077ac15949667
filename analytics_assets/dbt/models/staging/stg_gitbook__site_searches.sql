-- Searches, one row per site, UTC day, event type, query, page and visitor kind: the queries
-- typed (search_type_query) and the results opened (search_open_result, with the page opened;
-- a null page there is a 404). search_query is text that visitors typed: never log it.
select
    site_id,
    organization_id,
    day,
    event_type,
    search_query,
    page_space_id,
    page_id,
    visitor_bot,
    visitor_bot is null as is_person,
    events_count,
    sessions_count,
    visitors_count
-- Empty until the first site insights day is loaded (see macros/source_or_empty.sql).
from {{ source_or_empty('gitbook', 'site_searches_daily') }}
