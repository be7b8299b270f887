-- An app's current release: its newest release that succeeded (DESIGN §2). Every reader
-- uses this one definition. A SQL function of one select, so PostgreSQL inlines it into the
-- query that calls it and walks releases' (app_id, version) index backwards.
create function current_release(app uuid) returns setof releases
language sql stable as $$
    select * from releases
     where app_id = app and status = 'succeeded'
     order by version desc
     limit 1
$$;
