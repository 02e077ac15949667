-- An idle seat is an enabled one: idle and disabled seats never add up to more than the members.
select organization_id, role, members, disabled, idle_seats
from {{ ref('members_by_role') }}
where idle_seats + disabled > members or idle_seats < 0 or disabled < 0
