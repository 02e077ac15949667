-- page_views_daily holds every page view of a page by a person, once, and agent_page_views_daily
-- every one by a crawler or AI agent: their joins neither drop nor repeat one. A duplicated page
-- in content would double the views of every day; this stops the marts.
{{ config(meta={'dagster': {'ref': {'name': 'page_views_daily'}}}) }}
select v.views, a.views as agent_views, e.people, e.agents
from (select coalesce(sum(views), 0) as views from {{ ref('page_views_daily') }}) as v
cross join (select coalesce(sum(views), 0) as views from {{ ref('agent_page_views_daily') }}) as a
cross join (
    select
        coalesce(sum(events_count) filter (where is_person), 0) as people,
        coalesce(sum(events_count) filter (where not is_person), 0) as agents
    from {{ ref('stg_gitbook__site_events') }}
    where event_type = 'page_view' and page_id is not null
) as e
where v.views <> e.people or a.views <> e.agents
