-- Archives uploaded through the build form (issue 11): streamed into sealed chunks, so no
-- process holds an upload in memory and any worker can fetch it; removed once the builds
-- that came from them are older than the kept releases.
create table source_uploads (
    id         uuid not null,
    n          integer not null,
    -- AES-GCM with the secret key, bound to the upload and the chunk's number
    data_enc   bytea not null,
    created_at timestamptz not null default now(),
    primary key (id, n)
);
create index source_uploads_created on source_uploads (created_at) where n = 0;
alter table builds add column upload_id uuid;
create index builds_upload on builds (upload_id) where upload_id is not null;

-- Query strings and fragments of source URLs may carry secrets (presigned URLs, tokens): the
-- shown URL keeps neither, like user-info before.
update builds set source_url = regexp_replace(source_url, '#.*$', '#…')
 where source_url ~* '^https?://' and source_url like '%#%';
update builds set source_url = regexp_replace(source_url, '\?[^#]*', '?…')
 where source_url ~* '^https?://' and source_url like '%?%';
