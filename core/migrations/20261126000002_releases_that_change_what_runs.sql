-- The rollback banner looks for the newest succeeded deploy or rollback at or below the
-- current version. Without this index an app whose recent releases are all config changes
-- made that lookup walk every release (10,000 heap fetches for the benchmark's app).
create index releases_app_runs on releases (app_id, version desc)
    where status = 'succeeded' and kind in ('deploy', 'rollback');
