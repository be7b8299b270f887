-- Open Service Brokers (issue 14), both sides.

-- A provisioning that takes time (a broker's asynchronous provision) is a job in the app's
-- add-on lane: it polls the broker, then makes the `Attach` release.
alter table jobs add column addon_id uuid references addons (id) on delete cascade;
alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check check (kind in ('deploy', 'build', 'addon'));

-- The broker's operation while it provisions (echoed when polling), and who asked: the
-- `Attach` release made later is theirs.
alter table addons add column operation text;
alter table addons add column user_id uuid references users (id) on delete set null;

-- Slipway as a broker: the instances and bindings other platforms asked for. `addon_id` is
-- the provider's own id for the instance (the platform's ids never name a database).
create table broker_instances (
    id          text primary key,
    addon_id    uuid not null unique,
    service_id  text not null,
    plan_id     text not null,
    state       text not null check (state in ('in progress', 'succeeded', 'failed')),
    description text not null default '',
    operation   text not null,
    -- the instance's credentials (a JSON object), AES-GCM encrypted, bound to `addon_id`
    vars_enc    bytea,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

create table broker_bindings (
    instance_id text not null references broker_instances (id) on delete cascade,
    id          text not null,
    created_at  timestamptz not null default now(),
    primary key (instance_id, id)
);

create trigger set_updated_at before update on broker_instances for each row execute function set_updated_at();
