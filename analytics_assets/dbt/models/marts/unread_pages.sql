-- Documents no person viewed in the 90 days ending on the newest day loaded (a crawler's visit
-- is not a reader's), in the spaces that visitors reach at all (a space with no event in the
-- window is not published, so not judged).
-- last_viewed_on: the page's latest view by a person in all loaded days (null: never, as far as loaded).
with bounds as (
    select max(day) as last_day from {{ ref('stg_gitbook__site_events') }}
),

window_events as (
    select e.*
    from {{ ref('stg_gitbook__site_events') }} as e
    cross join bounds as b
    where e.day > b.last_day - 90
),

read_spaces as (
    select distinct page_space_id as space_id from window_events where page_space_id is not null
),

viewed as (
    select distinct page_space_id as space_id, page_id
    from window_events
    where event_type = 'page_view' and page_id is not null and is_person
),

last_views as (
    select space_id, page_id, max(day) as last_viewed_on
    from {{ ref('page_views_daily') }}
    group by space_id, page_id
)

select
    p.space_id,
    s.space_title,
    p.page_id,
    p.page_title,
    p.page_path,
    l.last_viewed_on
from {{ ref('stg_gitbook__pages') }} as p
inner join read_spaces as r on r.space_id = p.space_id
left join {{ ref('stg_gitbook__spaces') }} as s on s.space_id = p.space_id
left join viewed as v on v.space_id = p.space_id and v.page_id = p.page_id
left join last_views as l on l.space_id = p.space_id and l.page_id = p.page_id
where p.page_type = 'document' and v.page_id is null
