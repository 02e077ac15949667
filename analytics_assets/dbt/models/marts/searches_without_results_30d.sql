-- The docs team's content gaps: queries people typed in the 30 days ending on the newest site
-- insights day loaded without opening any result, per site and query, ranked across sites by
-- how often they were typed (1 = most). Anchored on the data rather than the clock, like
-- top_pages_30d, and on the same day as the other 30-day marts over site insights.
with recent as (
    select
        q.site_id,
        q.search_query,
        cast(sum(q.searches) as bigint) as searches,
        count(distinct case when q.searches > 0 then q.day end) as days_searched,
        max(case when q.searches > 0 then q.day end) as last_searched,
        b.last_day - 29 as first_day,
        b.last_day
    from {{ ref('search_queries_daily') }} as q
    cross join {{ ref('int_last_site_insights_day') }} as b
    where q.day > b.last_day - 30
    group by q.site_id, q.search_query, b.last_day
    having sum(q.searches) > 0 and sum(q.results_opened) = 0
)

select
    row_number() over (order by r.searches desc, r.site_id, r.search_query) as gap_rank,
    r.site_id,
    s.site_title,
    r.search_query,
    r.searches,
    r.days_searched,
    r.last_searched,
    r.first_day,
    r.last_day
from recent as r
left join {{ ref('stg_gitbook__sites') }} as s on s.site_id = r.site_id
