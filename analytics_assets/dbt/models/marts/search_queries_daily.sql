-- People's searches per site, UTC day and query: how often the query was typed (searches) and
-- how often one of its results was opened (results_opened; results_without_page: opened results
-- that resolved to no page, a page that no longer exists or a result that is not a page). Event
-- counts, so they add up over days.
select
    site_id,
    day,
    search_query,
    cast(
        sum(case when event_type = 'search_type_query' then events_count else 0 end) as bigint
    ) as searches,
    cast(
        sum(case when event_type = 'search_open_result' then events_count else 0 end) as bigint
    ) as results_opened,
    cast(
        sum(
            case
                when event_type = 'search_open_result' and page_space_id is null
                    then events_count
                else 0
            end
        ) as bigint
    ) as results_without_page
from {{ ref('stg_gitbook__site_searches') }}
where is_person and search_query is not null
group by site_id, day, search_query
