-- Site insights, one row per site, UTC day, event type, page, URL path and 404 reason.
-- is_broken_url: a view that resolved to no page, and not because adaptive content hid the page
-- (page_not_found_type 'conditional'): the 404s a docs team should fix.
select
    site_id,
    organization_id,
    day,
    event_type,
    page_space_id,
    page_id,
    url_path,
    coalesce(is_not_found, false) as is_not_found,
    page_not_found_type,
    coalesce(is_not_found, false) and page_not_found_type is null as is_broken_url,
    events_count,
    sessions_count,
    visitors_count
-- Empty until the first site insights day is loaded (see macros/source_or_empty.sql).
from {{ source_or_empty('gitbook', 'site_insights_daily') }}
