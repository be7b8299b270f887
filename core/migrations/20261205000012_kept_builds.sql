-- The kept window (DESIGN §6): the builds of an app's pinned releases and of its last `keep`
-- releases that were not skipped. Their images stay on the engine and their sources in the
-- database; removing images and forgetting sources both ask this one definition.
create function kept_builds(app uuid, keep int) returns setof uuid
language sql stable as $$
    select build_id from releases where app_id = app and build_id is not null and pinned
    union
    select build_id from (select build_id from releases
                           where app_id = app and status <> 'skipped'
                           order by version desc limit keep) last
     where build_id is not null
$$;
