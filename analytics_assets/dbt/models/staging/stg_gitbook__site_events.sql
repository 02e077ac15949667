-- Site insights, one row per site, UTC day, event type, page, URL path, 404 reason, visitor kind
-- and display context. is_not_found: GitBook's 404, a page_view or search_open_result on the site
-- itself that resolved to no page.
-- is_broken_url: a 404 that adaptive content does not explain (page_not_found_type
-- 'conditional' is a page that exists but was hidden from the visitor): the 404s a docs team
-- should fix. is_person: no crawler or AI agent (visitor_bot null); the marts count people
-- unless they say otherwise. Sessions and visitors are distinct counts per row: summing them
-- over days or rows overstates them.
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
    visitor_bot,
    visitor_bot is null as is_person,
    display_context,
    events_count,
    sessions_count,
    visitors_count
-- Empty until the first site insights day is loaded (see macros/source_or_empty.sql).
from {{ source_or_empty('gitbook', 'site_insights_daily') }}
