-- Add-ons (issue 14): one provisioned instance of a service plan, owned by one app, attached to
-- that app and perhaps to others. Attaching and detaching are releases: a release's snapshot
-- holds the add-on vars apart from the user's, so a rollback copies the user's and keeps
-- today's add-ons.

create table addons (
    id                uuid primary key,
    -- The owner. No cascade: deleting an app deprovisions its add-ons first (core), and this
    -- refuses a delete that would forget a database that still exists.
    app_id            uuid not null references apps (id),
    -- The owner attachment's name, reserved while the add-on is provisioning.
    name              text not null,
    service           text not null,
    -- `service:plan`
    plan              text not null,
    -- who provisions it: `builtin`, or a broker's name
    provider          text not null,
    state             text not null check (state in ('provisioning', 'provisioned', 'failed')),
    state_description text not null default '',
    -- The vars the provider gave (a JSON object), AES-GCM encrypted, bound to the add-on's id.
    vars_enc          bytea,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create index addons_app on addons (app_id);

create table addon_attachments (
    id         uuid primary key,
    addon_id   uuid not null references addons (id) on delete cascade,
    app_id     uuid not null references apps (id) on delete cascade,
    name       text not null,
    -- the owner's attachment, made with the add-on
    owner      boolean not null,
    -- the first attachment of its service on the app: its vars keep their names
    is_primary boolean not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint addon_attachments_once unique (addon_id, app_id)
);
create unique index addon_attachments_name on addon_attachments (app_id, lower(name));
create index addon_attachments_app on addon_attachments (app_id);

-- The attached add-ons' vars at this release (a JSON object, AES-GCM encrypted, bound to the
-- release's id); null for none. `config_enc` keeps the user's own vars.
alter table releases add column addon_config_enc bytea;

create trigger set_updated_at before update on addons for each row execute function set_updated_at();
create trigger set_updated_at before update on addon_attachments for each row execute function set_updated_at();
