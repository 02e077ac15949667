-- People's page views per page per UTC day (crawlers and AI agents are in
-- agent_page_views_daily), summed over the sites that publish the page, with the page's title
-- and path and its space. Views of a page the content table no longer has keep their row
-- (title null; a WARN test counts them) so no view is ever lost to a join.
select
    e.day,
    e.page_space_id as space_id,
    s.space_title,
    e.page_id,
    p.page_title,
    p.page_path,
    cast(sum(e.events_count) as bigint) as views
from {{ ref('stg_gitbook__site_events') }} as e
left join {{ ref('stg_gitbook__pages') }} as p
    on p.space_id = e.page_space_id and p.page_id = e.page_id
left join {{ ref('stg_gitbook__spaces') }} as s
    on s.space_id = e.page_space_id
where e.event_type = 'page_view' and e.page_id is not null and e.is_person
group by e.day, e.page_space_id, s.space_title, e.page_id, p.page_title, p.page_path
