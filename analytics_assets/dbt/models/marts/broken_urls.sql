-- Real 404s per site and URL path, over every loaded day: views of URLs that matched no page,
-- leaving out the ones adaptive content explains (page_not_found_type 'conditional').
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
where e.is_broken_url
group by e.site_id, s.site_title, s.hostname, e.url_path
