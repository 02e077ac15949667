-- Crawlers' and AI agents' page views per page, UTC day and agent (GitBook's visitorBot:
-- googlebot, chatgpt, claude, ...; 'unknown' for a bot GitBook cannot name). Which pages the
-- machines read, apart from the people counted in page_views_daily.
select day, space_id, space_title, page_id, page_title, page_path, visitor_bot as agent, views
from {{ ref('int_page_views') }}
where visitor_bot is not null
