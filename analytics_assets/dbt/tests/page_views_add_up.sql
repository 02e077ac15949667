-- page_views_daily holds every page view of a page, once: its joins neither drop nor repeat one.
-- A duplicated page in content would double the views of every day; this stops the marts.
{{ config(meta={'dagster': {'ref': {'name': 'page_views_daily'}}}) }}
select v.views, e.views as expected
from (select coalesce(sum(views), 0) as views from {{ ref('page_views_daily') }}) as v
cross join (
    select coalesce(sum(events_count), 0) as views
    from {{ ref('stg_gitbook__site_events') }}
    where event_type = 'page_view' and page_id is not null
) as e
where v.views <> e.views
