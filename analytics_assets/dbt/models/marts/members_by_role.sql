-- Seats per organization and role (guests included): how many, how many disabled, and how many
-- enabled seats nobody used for 90 days (never seen, or last seen over 90 days ago), the seats
-- to reclaim before the next renewal.
select
    m.organization_id,
    o.organization_title,
    m.role,
    count(*) as members,
    cast(sum(case when m.is_disabled then 1 else 0 end) as bigint) as disabled,
    cast(sum(
        case
            when not m.is_disabled
                and (m.last_seen_at is null or m.last_seen_at < now() - interval '90 days')
            then 1 else 0
        end
    ) as bigint) as idle_seats
from {{ ref('stg_gitbook__members') }} as m
left join {{ ref('stg_gitbook__organizations') }} as o on o.organization_id = m.organization_id
group by m.organization_id, o.organization_title, m.role
