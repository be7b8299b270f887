-- Access ends when it should (issue 11).

-- Whether the user is an admin because SLIPWAY_ADMINS lists them: taken off the list, they
-- fall back to the default role at their next sign-in. (Admins of before cannot be told
-- apart: their next sign-in records it.)
alter table users add column admin_from_list boolean not null default false;
-- When the user's membership (SLIPWAY_GITHUB_ORGS, _USERS, SLIPWAY_ADMINS) was last checked
-- with GitHub, and since when they are no longer allowed: a disabled user's sessions and
-- tokens stop working until a sign-in finds them allowed again.
alter table users add column checked_at timestamptz;
alter table users add column disabled_at timestamptz;
create index users_github_checked on users (checked_at nulls first) where provider = 'github';
