-- Page views, one row per site, UTC day, referrer domain (null: none; GitBook may send an empty
-- string for it, read as null), country (ISO 3166
-- alpha-2, null: unknown), device and visitor kind. Sessions and visitors are distinct counts
-- per row: summing them over days or rows overstates them.
select
    site_id,
    organization_id,
    day,
    nullif(referrer_domain, '') as referrer_domain,
    country,
    device,
    visitor_bot,
    visitor_bot is null as is_person,
    events_count as views,
    sessions_count,
    visitors_count
from {{ source_or_empty('gitbook', 'site_audience_daily') }}
