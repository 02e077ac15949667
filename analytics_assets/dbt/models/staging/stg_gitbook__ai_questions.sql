-- Questions to the AI assistant, one row per site, UTC day, event type, question, rating and
-- visitor kind: the questions asked (ask_question) and the ratings of the answers
-- (ask_rate_response, response_rating 1 or -1). question is text that visitors wrote: never
-- log it.
select
    site_id,
    organization_id,
    day,
    event_type,
    question,
    response_rating,
    visitor_bot,
    visitor_bot is null as is_person,
    events_count,
    sessions_count,
    visitors_count
from {{ source_or_empty('gitbook', 'site_ai_questions_daily') }}
