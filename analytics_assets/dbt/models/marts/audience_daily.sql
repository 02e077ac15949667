-- People's page views (404s included) per site, UTC day, referrer domain (null: none, a direct
-- visit), country (ISO 3166 alpha-2, null: unknown) and device. One row per group GitBook
-- returned, so sessions and visitors are its distinct counts for that day and group (upper
-- bounds where counts_are_upper_bounds: a day fetched in time windows): never sum them over days
-- or rows.
select
    a.site_id,
    s.site_title,
    a.day,
    a.referrer_domain,
    a.country,
    a.device,
    a.views,
    a.sessions_count as sessions,
    a.visitors_count as visitors,
    coalesce(a.query_split = 'event_type_and_time', false) as counts_are_upper_bounds
from {{ ref('stg_gitbook__site_audience') }} as a
left join {{ ref('stg_gitbook__sites') }} as s on s.site_id = a.site_id
where a.is_person
