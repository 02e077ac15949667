-- People's real 404s per site and URL path, over every loaded day: page views and opened search
-- results that matched no page, leaving out the ones adaptive content explains (those are in
-- conditional_404s) and crawlers' and scanners' probes (see int_not_found_urls).
select site_id, site_title, hostname, url_path, views, from_search, first_seen, last_seen, days_seen
from {{ ref('int_not_found_urls') }}
where page_not_found_type is null
