-- People's 404s per site, URL path and reason (page_not_found_type: null for a page that does not
-- exist, 'conditional' for one adaptive content hid), over every loaded day, with the site's
-- title and hostname. Crawlers' and scanners' probes are left out. broken_urls reads the
-- unexplained ones, conditional_404s the others. from_search: events that were search results
-- leading nowhere.
select
    e.site_id,
    s.site_title,
    s.hostname,
    e.url_path,
    e.page_not_found_type,
    cast(sum(e.events_count) as bigint) as views,
    cast(
        sum(case when e.event_type = 'search_open_result' then e.events_count else 0 end)
        as bigint
    ) as from_search,
    min(e.day) as first_seen,
    max(e.day) as last_seen,
    count(distinct e.day) as days_seen
from {{ ref('stg_gitbook__site_events') }} as e
left join {{ ref('stg_gitbook__sites') }} as s on s.site_id = e.site_id
where e.is_not_found and e.is_person
group by e.site_id, s.site_title, s.hostname, e.url_path, e.page_not_found_type
