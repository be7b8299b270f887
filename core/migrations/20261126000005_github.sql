-- GitHub (issue 5): users' own authorizations, repository attachments with their webhook,
-- deliveries seen, and builds of GitHub commits.

-- The token GitHub's sign-in gave the user (sealed), and the scopes it carries, for
-- "use my GitHub account" when attaching a repository.
alter table users add column github_token_enc bytea;
alter table users add column github_scopes text;

create table repo_attachments (
    id           uuid primary key,
    app_id       uuid not null constraint repo_attachments_app_key unique
                 references apps (id) on delete cascade,
    -- https://host/owner/name
    repo         text not null,
    branch       text not null,
    -- whose credential Slipway uses: the service account, the attaching user's own
    -- authorization, or a pasted personal access token
    credential   text not null check (credential in ('service', 'user', 'token')),
    username     text not null,
    -- the token (sealed) for 'user' and 'token'; the service token comes from the options
    token_enc    bytea,
    hook_id      bigint,
    -- the webhook's secret (sealed)
    secret_enc   bytea not null,
    auto_deploy  boolean not null,
    status_check boolean not null,
    user_id      uuid references users (id) on delete set null,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);

-- GitHub's delivery ids already acted on: a redelivery is answered, not built again.
create table webhook_deliveries (
    app_id      uuid not null references apps (id) on delete cascade,
    delivery_id text not null,
    build_id    uuid references builds (id) on delete set null,
    received_at timestamptz not null default now(),
    primary key (app_id, delivery_id)
);
create index webhook_deliveries_received on webhook_deliveries (received_at);

-- A build of a GitHub commit is fetched with the token of the attachment it came from (and
-- only that one: a build outlives its attachment when the repository is detached).
alter table builds add column source_kind text not null default 'url'
    check (source_kind in ('url', 'github'));
alter table builds add column attachment_id uuid references repo_attachments (id) on delete set null;
-- What became of an automatic release of this build, when it did not simply happen:
-- 'held' (auto-deploy paused after a rollback), 'waiting' (for the commit's other status
-- checks), 'checks-failed'.
alter table builds add column auto_release text
    check (auto_release in ('held', 'waiting', 'checks-failed'));
-- When a worker next asks GitHub about a 'waiting' build's status checks.
alter table builds add column checks_next_at timestamptz;
create index builds_waiting on builds (checks_next_at) where auto_release = 'waiting';
