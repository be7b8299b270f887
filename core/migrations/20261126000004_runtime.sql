-- The runtime (issue 4): each app's stable address, why a release failed, and which builds'
-- images were removed (a release whose image is gone cannot be rolled back to).
alter table apps add column web_port integer unique;
alter table apps add column web_url text;
-- where the app's address forwards to (the current container's published port): the process
-- that holds the address follows it when another worker deploys.
alter table apps add column web_target text;
alter table releases add column failure text;
alter table builds add column image_removed boolean not null default false;
-- Which Slipway installation owns a container or an image, when several share an engine.
insert into settings (name, value) values ('install_id', gen_random_uuid()::text)
    on conflict (name) do nothing;
