-- People's page views per page per UTC day, with the page's title and path and its space
-- (crawlers and AI agents are in agent_page_views_daily; see int_page_views).
select day, space_id, space_title, page_id, page_title, page_path, views
from {{ ref('int_page_views') }}
where visitor_bot is null
