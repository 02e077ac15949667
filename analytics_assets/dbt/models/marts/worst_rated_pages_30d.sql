-- Pages people rated in the 30 days ending on the newest site insights day loaded, worst first:
-- rating_score is (good - bad) / ratings, from -1 (all bad) to 1 (all good); ties go to the page
-- with more ratings. Ratings are page_post_feedback events; comments the
-- page_post_feedback_comment events that followed. views: people's page views in the same 30
-- days, summed over the sites that publish the page, as page_views_daily counts them.
with ratings as (
    select
        f.page_space_id as space_id,
        f.page_id,
        cast(sum(case when f.event_type = 'page_post_feedback' then f.events_count else 0 end)
            as bigint) as ratings,
        cast(sum(case when f.event_type = 'page_post_feedback' and f.rating = 'bad'
            then f.events_count else 0 end) as bigint) as rated_bad,
        cast(sum(case when f.event_type = 'page_post_feedback' and f.rating = 'ok'
            then f.events_count else 0 end) as bigint) as rated_ok,
        cast(sum(case when f.event_type = 'page_post_feedback' and f.rating = 'good'
            then f.events_count else 0 end) as bigint) as rated_good,
        cast(sum(case when f.event_type = 'page_post_feedback_comment' then f.events_count
            else 0 end) as bigint) as comments,
        b.last_day - 29 as first_day,
        b.last_day
    from {{ ref('stg_gitbook__page_feedback') }} as f
    cross join {{ ref('int_last_site_insights_day') }} as b
    where f.is_person and f.page_id is not null and f.day > b.last_day - 30
    group by f.page_space_id, f.page_id, b.last_day
),

views as (
    select v.space_id, v.page_id, cast(sum(v.views) as bigint) as views
    from {{ ref('page_views_daily') }} as v
    cross join {{ ref('int_last_site_insights_day') }} as b
    where v.day > b.last_day - 30
    group by v.space_id, v.page_id
),

scored as (
    select
        r.*,
        cast(r.rated_good - r.rated_bad as double precision) / r.ratings as rating_score
    from ratings as r
    where r.ratings > 0
)

select
    row_number() over (
        order by s.rating_score, s.ratings desc, s.space_id, s.page_id
    ) as page_rank,
    s.space_id,
    p.page_title,
    p.page_path,
    s.page_id,
    s.rating_score,
    s.ratings,
    s.rated_bad,
    s.rated_ok,
    s.rated_good,
    s.comments,
    coalesce(v.views, 0) as views,
    s.first_day,
    s.last_day
from scored as s
left join views as v on v.space_id = s.space_id and v.page_id = s.page_id
left join {{ ref('stg_gitbook__pages') }} as p
    on p.space_id = s.space_id and p.page_id = s.page_id
