-- Space traffic from GitBook API 0.91 (empty on today's API). Points are stamped at midnight UTC;
-- `at time zone 'UTC'` keeps each on its own day whatever the session's time zone.
select
    space_id,
    cast("timestamp" at time zone 'UTC' as date) as day,
    "count" as views
from {{ source('gitbook', 'insights_traffic') }}
