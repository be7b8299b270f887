-- Archives uploaded through the build form (issue 11): streamed into sealed chunks, so no
-- process holds an upload in memory and any worker can fetch it; removed once no build that is
-- as recent as the kept releases came from them.
create table uploads (
    id         uuid primary key,
    -- how many chunks and bytes it holds, once complete (null while it is being written)
    chunks     integer,
    bytes      bigint,
    created_at timestamptz not null default now()
);
create index uploads_created on uploads (created_at);
create table upload_chunks (
    upload_id uuid not null references uploads (id) on delete cascade,
    n         integer not null,
    -- AES-GCM with the secret key, bound to the upload and the chunk's number
    data_enc  bytea not null,
    primary key (upload_id, n)
);
alter table builds add column upload_id uuid references uploads (id) on delete set null;
create index builds_upload on builds (upload_id) where upload_id is not null;

-- Query strings and fragments of source URLs may carry secrets (presigned URLs, tokens): the
-- shown URL keeps neither, like user-info before.
update builds set source_url = regexp_replace(source_url, '#.*$', '#…')
 where source_url ~* '^https?://' and source_url like '%#%';
update builds set source_url = regexp_replace(source_url, '\?[^#]*', '?…')
 where source_url ~* '^https?://' and source_url like '%?%';
