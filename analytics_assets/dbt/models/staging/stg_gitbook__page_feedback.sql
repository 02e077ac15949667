-- Page ratings, one row per site, UTC day, event type, page, rating, comment and visitor kind.
-- A reader rates a page (page_post_feedback) and may then comment (page_post_feedback_comment,
-- carrying the same rating): ratings count the first, comments the second, so nothing is
-- counted twice. comment is text that visitors wrote: never log it.
select
    site_id,
    organization_id,
    day,
    event_type,
    page_space_id,
    page_id,
    rating,
    comment,
    visitor_bot,
    visitor_bot is null as is_person,
    events_count,
    sessions_count,
    visitors_count
from {{ source_or_empty('gitbook', 'site_page_feedback_daily') }}
