-- Page views (404s included), one row per site, UTC day, referrer domain (null: none), country
-- (ISO 3166 alpha-2, null: unknown), device and visitor kind. Sessions and visitors are distinct
-- counts per row: summing them over days or rows overstates them; query_split
-- 'event_type_and_time' marks a row whose counts were added up over time windows, whose
-- sessions and visitors are upper bounds.
select
    site_id,
    organization_id,
    day,
    referrer_domain,
    country,
    device,
    visitor_bot,
    visitor_bot is null as is_person,
    events_count as views,
    sessions_count,
    visitors_count,
    query_split
from {{ source_or_empty('gitbook', 'site_audience_daily') }}
