-- Crawlers' and AI agents' page views per page, UTC day and agent (GitBook's visitorBot:
-- googlebot, chatgpt, claude, ...; 'unknown' for a bot GitBook cannot name). Which pages the
-- machines read, apart from the people counted in page_views_daily.
select
    e.day,
    e.page_space_id as space_id,
    s.space_title,
    e.page_id,
    p.page_title,
    p.page_path,
    e.visitor_bot as agent,
    cast(sum(e.events_count) as bigint) as views
from {{ ref('stg_gitbook__site_events') }} as e
left join {{ ref('stg_gitbook__pages') }} as p
    on p.space_id = e.page_space_id and p.page_id = e.page_id
left join {{ ref('stg_gitbook__spaces') }} as s
    on s.space_id = e.page_space_id
where e.event_type = 'page_view' and e.page_id is not null and not e.is_person
group by
    e.day, e.page_space_id, s.space_title, e.page_id, p.page_title, p.page_path, e.visitor_bot
