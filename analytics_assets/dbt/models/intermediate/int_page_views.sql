-- Page views per UTC day, page and visitor (visitor_bot null: people; else the crawler or AI
-- agent), summed over the sites that publish the page, with the page's title and path and its
-- space. Views of a page the content table no longer has keep their row (title null; a WARN test
-- counts them) so no view is ever lost to a join. page_views_daily reads people's rows,
-- agent_page_views_daily the machines'.
select
    e.day,
    e.page_space_id as space_id,
    s.space_title,
    e.page_id,
    p.page_title,
    p.page_path,
    e.visitor_bot,
    cast(sum(e.events_count) as bigint) as views
from {{ ref('stg_gitbook__site_events') }} as e
left join {{ ref('stg_gitbook__pages') }} as p
    on p.space_id = e.page_space_id and p.page_id = e.page_id
left join {{ ref('stg_gitbook__spaces') }} as s
    on s.space_id = e.page_space_id
where e.event_type = 'page_view' and e.page_id is not null
group by
    e.day, e.page_space_id, s.space_title, e.page_id, p.page_title, p.page_path, e.visitor_bot
