-- The newest site insights day loaded: where the 30-day marts over site insights end, so they
-- cover the same days whichever of their inputs had events last. Null before the first day.
select max(day) as last_day
from {{ ref('stg_gitbook__site_events') }}
