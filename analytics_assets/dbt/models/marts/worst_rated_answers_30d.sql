-- Questions people asked the AI assistant in the 30 days ending on the newest site insights day
-- loaded whose answers they rated, per site, worst first: answer_score is (up - down) /
-- ratings, from -1 (every rating down) to 1; ties go to the question with more down-ratings.
-- asked counts the ask_question events of the same question in the same days.
with recent as (
    select
        q.site_id,
        q.question,
        cast(sum(case when q.event_type = 'ask_question' then q.events_count else 0 end)
            as bigint) as asked,
        cast(sum(case when q.event_type = 'ask_rate_response' and q.response_rating > 0
            then q.events_count else 0 end) as bigint) as rated_up,
        cast(sum(case when q.event_type = 'ask_rate_response' and q.response_rating < 0
            then q.events_count else 0 end) as bigint) as rated_down,
        b.last_day - 29 as first_day,
        b.last_day
    from {{ ref('stg_gitbook__ai_questions') }} as q
    cross join {{ ref('int_last_site_insights_day') }} as b
    where q.is_person and q.question is not null and q.day > b.last_day - 30
    group by q.site_id, q.question, b.last_day
),

scored as (
    select
        r.*,
        r.rated_up + r.rated_down as ratings,
        cast(r.rated_up - r.rated_down as double precision)
        / (r.rated_up + r.rated_down) as answer_score
    from recent as r
    where r.rated_up + r.rated_down > 0
)

select
    row_number() over (
        order by s.answer_score, s.rated_down desc, s.site_id, s.question
    ) as answer_rank,
    s.site_id,
    t.site_title,
    s.question,
    s.answer_score,
    s.ratings,
    s.rated_up,
    s.rated_down,
    s.asked,
    s.first_day,
    s.last_day
from scored as s
left join {{ ref('stg_gitbook__sites') }} as t on t.site_id = s.site_id
