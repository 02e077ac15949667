-- 404s that adaptive content explains, per site and URL path, over every loaded day: people
-- sent to a page that exists but that their audience may not see (page_not_found_type
-- 'conditional'). An access question (who should see the page, which link leads there), not a
-- broken link.
select
    e.site_id,
    s.site_title,
    s.hostname,
    e.url_path,
    cast(sum(e.events_count) as bigint) as views,
    min(e.day) as first_seen,
    max(e.day) as last_seen,
    count(distinct e.day) as days_seen
from {{ ref('stg_gitbook__site_events') }} as e
left join {{ ref('stg_gitbook__sites') }} as s on s.site_id = e.site_id
where e.is_not_found and e.page_not_found_type = 'conditional' and e.is_person
group by e.site_id, s.site_title, s.hostname, e.url_path
