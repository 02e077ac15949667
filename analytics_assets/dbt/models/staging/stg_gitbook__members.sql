-- GitBook's role is null for guests (MemberRoleOrGuest): named here, so every seat has a role.
select
    organization_id,
    id as user_id,
    coalesce(role, 'guest') as role,
    coalesce(disabled, false) as is_disabled,
    joined_at,
    last_seen_at
from {{ source('gitbook', 'org_members') }}
