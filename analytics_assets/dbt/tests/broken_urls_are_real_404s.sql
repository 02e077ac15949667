-- broken_urls counts exactly people's unconditional 404s (page views and opened search
-- results): none lost, none a conditional 404, none a crawler's probe.
{{ config(meta={'dagster': {'ref': {'name': 'broken_urls'}}}) }}
select b.views, e.views as expected
from (select coalesce(sum(views), 0) as views from {{ ref('broken_urls') }}) as b
cross join (
    select coalesce(sum(events_count), 0) as views
    from {{ ref('stg_gitbook__site_events') }}
    where is_not_found and page_not_found_type is null and is_person
) as e
where b.views <> e.views
