-- Views per space per UTC day from the space traffic endpoint, for accounts on GitBook API 0.91
-- (today's API no longer serves it: this table is then empty, and page_views_daily has the views).
select
    t.space_id,
    s.space_title,
    t.day,
    cast(sum(t.views) as bigint) as views
from {{ ref('stg_gitbook__space_traffic') }} as t
left join {{ ref('stg_gitbook__spaces') }} as s on s.space_id = t.space_id
group by t.space_id, s.space_title, t.day
