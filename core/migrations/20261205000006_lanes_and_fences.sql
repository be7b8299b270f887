-- Hardening (issue 11): two lanes per app, fenced claims, and skipped releases.

-- An app's deploys and its builds are two lanes (`kind`) that do not wait for each other: a
-- rollback never queues behind a build. Only the oldest job of a lane can be claimed; the claim
-- walks the lanes' heads with this index, so its cost does not grow with the backlog.
drop index jobs_app;
create index jobs_lane on jobs (app_id, kind, id);

-- Each claim of a job gets a fresh id, the fencing token: every write the job makes checks it,
-- so a worker whose lease was taken over writes nothing more.
alter table jobs add column claim_id uuid;

-- A queued release that a newer release of its app replaced before it was deployed is
-- 'skipped': it never ran, is never current and is no rollback target.
alter table releases drop constraint releases_status_check;
alter table releases add constraint releases_status_check
    check (status in ('queued', 'pending', 'succeeded', 'failed', 'skipped'));
