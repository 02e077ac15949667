-- People's real 404s per site and URL path, over every loaded day: page views and opened search
-- results that matched no page, leaving out the ones adaptive content explains (those are in
-- conditional_404s) and crawlers' and scanners' probes. from_search: how many of the events
-- were search results that led nowhere.
select
    e.site_id,
    s.site_title,
    s.hostname,
    e.url_path,
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
where e.is_broken_url and e.is_person
group by e.site_id, s.site_title, s.hostname, e.url_path
