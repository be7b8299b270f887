//! Archives uploaded through the build form. An upload streams into PostgreSQL in chunks of
//! 1 MiB, each sealed with the secret key, within `SLIPWAY_MAX_SOURCE_BYTES`: no process holds
//! a whole upload in memory, and any worker can fetch it (`upload:<id>` sources). Once complete
//! it records its chunk count and size, which a fetch checks. An upload goes when no build as
//! recent as the kept releases (DESIGN §6) came from it, and after a day when no build did.

use uuid::Uuid;

use crate::access::authz::{authorize, Action, Actor};
use crate::ledger::apps::App;
use crate::{Core, Error, Result};

const CHUNK: usize = 1 << 20;

/// An upload being written. Dropping it without [`Upload::finish`] leaves chunks that the
/// sweep removes; [`Upload::discard`] removes them at once.
pub struct Upload {
    core: Core,
    id: Uuid,
    n: i32,
    buf: Vec<u8>,
    total: u64,
    limit: u64,
}

impl Core {
    /// Starts an upload of a source archive for `app`, of at most `limit` bytes.
    pub async fn start_upload(&self, actor: &Actor, app: &App, limit: u64) -> Result<Upload> {
        authorize(actor, Action::Build, Some(app.id))?;
        let id = Uuid::new_v4();
        sqlx::query!("insert into uploads (id) values ($1)", id)
            .execute(&self.pool)
            .await?;
        Ok(Upload {
            core: self.clone(),
            id,
            n: 0,
            buf: Vec::with_capacity(CHUNK),
            total: 0,
            limit,
        })
    }

    /// A complete upload's chunk count and size; `None` when it is gone or never completed.
    pub(crate) async fn upload_size(&self, id: Uuid) -> Result<Option<(i32, i64)>> {
        let row = sqlx::query!("select chunks, bytes from uploads where id = $1", id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| Some((r.chunks?, r.bytes?))))
    }

    /// Chunk `n` of an upload, opened; `None` when it is missing.
    pub(crate) async fn upload_chunk(&self, id: Uuid, n: i32) -> Result<Option<Vec<u8>>> {
        let sealed: Option<Vec<u8>> = sqlx::query_scalar!(
            "select data_enc from upload_chunks where upload_id = $1 and n = $2",
            id,
            n
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(sealed
            .map(|s| self.key.open(&format!("upload:{id}:{n}"), &s))
            .transpose()?)
    }

    /// Lets go of the uploaded archives and `data:` payloads of the app's builds that are
    /// older than every build its kept releases (the last `keep` that ran or were meant to,
    /// and pinned ones) run, and that those releases do not run: nothing can release or roll
    /// back to them any more. An upload goes once no build refers to it (a rebuild of an old
    /// build refers to the same upload, and keeps it).
    pub(crate) async fn forget_old_sources(&self, app_id: Uuid, keep: u32) -> Result<()> {
        let uploads: Vec<Uuid> = sqlx::query_scalar!("with kept as (select kept_builds($1, $2) as build_id),
             oldest as (
                 select min(created_at) as at from builds where id in (select build_id from kept)),
             old as (
                 select id, upload_id from builds b
                  where b.app_id = $1 and b.status in ('succeeded', 'failed')
                    and b.id not in (select build_id from kept)
                    and b.created_at < (select at from oldest)
                    and (b.upload_id is not null
                         or (b.source_url like 'data:%' and b.source_enc is not null))
                  for update),
             cleared as (
                 update builds b set upload_id = null,
                        source_enc = case when b.source_url like 'data:%' then null else b.source_enc end
                   from old where b.id = old.id)
             select distinct upload_id as \"upload_id!\" from old where upload_id is not null", app_id, keep as i32)
        .fetch_all(&self.pool)
        .await?;
        if !uploads.is_empty() {
            sqlx::query!(
                "delete from uploads u where u.id = any($1)
                    and not exists (select 1 from builds b where b.upload_id = u.id)",
                &uploads
            )
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Removes uploads that no build came from (the form was abandoned mid-upload, or the
    /// build could not be made) once they are a day old.
    pub(crate) async fn forget_abandoned_uploads(&self) -> Result<()> {
        sqlx::query!(
            "delete from uploads u
              where u.created_at < now() - interval '1 day'
                and not exists (select 1 from builds b where b.upload_id = u.id)"
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl Upload {
    /// Takes the next bytes; more than the limit in all is `TooLarge` (and the upload is
    /// removed).
    pub async fn write(&mut self, mut data: &[u8]) -> Result<()> {
        self.total += data.len() as u64;
        if self.total > self.limit {
            let limit = self.limit;
            self.remove().await;
            return Err(Error::TooLarge(format!(
                "The archive is larger than the limit of {limit} bytes (SLIPWAY_MAX_SOURCE_BYTES)."
            )));
        }
        while !data.is_empty() {
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK {
                self.store().await?;
            }
        }
        Ok(())
    }

    /// How many bytes were written.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Stores what is left and records the upload as complete; answers the source to build
    /// (`upload:<id>`).
    pub async fn finish(mut self) -> Result<String> {
        if !self.buf.is_empty() {
            self.store().await?;
        }
        sqlx::query!(
            "update uploads set chunks = $2, bytes = $3 where id = $1",
            self.id,
            self.n,
            self.total as i64
        )
        .execute(&self.core.pool)
        .await?;
        Ok(format!("{}{}", crate::secrets::UPLOAD_SCHEME, self.id))
    }

    /// Removes what was stored.
    pub async fn discard(mut self) {
        self.remove().await;
    }

    async fn store(&mut self) -> Result<()> {
        let sealed = self
            .core
            .key
            .seal(&format!("upload:{}:{}", self.id, self.n), &self.buf);
        sqlx::query!(
            "insert into upload_chunks (upload_id, n, data_enc) values ($1, $2, $3)",
            self.id,
            self.n,
            sealed
        )
        .execute(&self.core.pool)
        .await?;
        self.n += 1;
        self.buf.clear();
        Ok(())
    }

    async fn remove(&mut self) {
        let _ = sqlx::query!("delete from uploads where id = $1", self.id)
            .execute(&self.core.pool)
            .await;
        self.buf = Vec::new();
    }
}
