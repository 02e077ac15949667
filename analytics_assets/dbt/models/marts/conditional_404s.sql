-- 404s that adaptive content explains, per site and URL path, over every loaded day: people
-- sent to a page that exists but that their audience may not see (page_not_found_type
-- 'conditional'). An access question (who should see the page, which link leads there), not a
-- broken link.
select site_id, site_title, hostname, url_path, views, first_seen, last_seen, days_seen
from {{ ref('int_not_found_urls') }}
where page_not_found_type = 'conditional'
