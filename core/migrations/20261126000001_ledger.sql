-- The release ledger. Append-only: once landed, a migration is never edited; add another.

create table settings (
    name  text primary key,
    value text not null
);

create table orgs (
    id         uuid primary key,
    name       text not null constraint orgs_name_key unique,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table spaces (
    id         uuid primary key,
    name       text not null constraint spaces_name_key unique,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table users (
    id          uuid primary key,
    provider    text not null,
    provider_id text not null,
    login       text not null,
    name        text,
    email       text,
    role        text not null check (role in ('viewer', 'deployer', 'admin')),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint users_provider_key unique (provider, provider_id)
);

create table api_tokens (
    id           uuid primary key,
    user_id      uuid not null references users (id) on delete cascade,
    -- sha-256 of the token; the token itself is shown once and never stored
    token_hash   bytea not null constraint api_tokens_hash_key unique,
    description  text not null default '',
    created_at   timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
create index api_tokens_user on api_tokens (user_id);

create table apps (
    id           uuid primary key,
    name         text not null,
    space_id     uuid not null references spaces (id),
    org_id       uuid not null references orgs (id),
    description  text,
    -- the last version handed out; bumped in the transaction that inserts a release
    last_version integer not null default 0,
    auto_release boolean not null default false,
    -- set when a rollback switched auto-release off; cleared by "Resume auto-deploy"
    auto_release_paused boolean not null default false,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    constraint apps_name_space_key unique (name, space_id)
);

create table builds (
    id         uuid primary key,
    app_id     uuid not null references apps (id) on delete cascade,
    status     text not null check (status in ('queued', 'pending', 'succeeded', 'failed')),
    -- the source URL as given, minus credentials and data: payloads
    source_url text not null,
    -- the full source reference, encrypted (it may carry credentials)
    source_enc bytea,
    checksum   text,
    version    text,
    commit_sha text,
    author     text,
    repo       text,
    branch     text,
    message    text,
    -- the image a succeeded build produced
    image      text,
    user_id    uuid references users (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index builds_app_created on builds (app_id, created_at);

create table build_log_lines (
    build_id uuid not null references builds (id) on delete cascade,
    seq      integer not null,
    text     text not null,
    primary key (build_id, seq)
);

create table releases (
    id          uuid primary key,
    app_id      uuid not null references apps (id) on delete cascade,
    version     integer not null,
    kind        text not null check (kind in ('deploy', 'config', 'port', 'addon', 'rollback')),
    build_id    uuid references builds (id),
    description text not null,
    status      text not null check (status in ('queued', 'pending', 'succeeded', 'failed')),
    -- the config vars snapshot: a JSON object, AES-GCM encrypted, bound to this release's id
    config_enc  bytea not null,
    port        integer not null,
    addon_plan_names text[] not null default '{}',
    -- for a rollback, the version it copied
    rollback_of integer,
    user_id     uuid references users (id) on delete set null,
    pinned      boolean not null default false,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint releases_app_version_key unique (app_id, version)
);
create index releases_app_succeeded on releases (app_id, version desc) where status = 'succeeded';
create index releases_build on releases (build_id);

create table favorites (
    user_id    uuid not null references users (id) on delete cascade,
    app_id     uuid not null references apps (id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (user_id, app_id)
);

-- The job queue: claimed with `for update skip locked` and a lease; per app, only the oldest job
-- may run, so an app's releases deploy one at a time in version order.
create table jobs (
    id           bigserial primary key,
    app_id       uuid not null references apps (id) on delete cascade,
    kind         text not null,
    release_id   uuid references releases (id) on delete cascade,
    build_id     uuid references builds (id) on delete cascade,
    attempts     integer not null default 0,
    locked_by    text,
    locked_until timestamptz,
    created_at   timestamptz not null default now()
);
create index jobs_app on jobs (app_id, id);

-- tower-sessions' store, created here so every table comes from the project's migrations.
create schema tower_sessions;
create table tower_sessions.session (
    id          text primary key not null,
    data        bytea not null,
    expiry_date timestamptz not null
);
create index session_expiry on tower_sessions.session (expiry_date);
