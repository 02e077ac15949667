-- Every page read in the 30 days ending on the newest day loaded, ranked by views (1 = most;
-- ties by title, space, id). Anchored on the data rather than the clock, so a late sync does
-- not empty it; the freshness checks on site_insights_daily say when the data is late.
with bounds as (
    select max(day) as last_day from {{ ref('page_views_daily') }}
),

recent as (
    select
        v.space_id,
        v.space_title,
        v.page_id,
        v.page_title,
        v.page_path,
        cast(sum(v.views) as bigint) as views,
        b.last_day - 29 as first_day,
        b.last_day
    from {{ ref('page_views_daily') }} as v
    cross join bounds as b
    where v.day > b.last_day - 30
    group by v.space_id, v.space_title, v.page_id, v.page_title, v.page_path, b.last_day
)

select
    row_number() over (
        order by views desc, page_title, space_title, space_id, page_id
    ) as page_rank,
    *
from recent
