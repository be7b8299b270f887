//! A build's log: the engine's output turned into stored lines (split, masked, cut, kept
//! within the log's limit) and written in batches, each batch announced on the log channel
//! (DESIGN §6).

use std::collections::BTreeMap;

use domain::BuildStatus;
use uuid::Uuid;

use crate::builds::log_feed::LOG_CHANNEL;
use crate::lease::{persist, Claim, Fence};
use crate::secrets::{mask, secrets_of};
use crate::{Core, Result};

/// A longer line is cut into pieces of this many bytes, each but the last marked.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// What marks a piece of a cut line.
pub const CUT_MARK: &str = " [line continues]";

/// Turns the engine's output into stored lines: split on `\n` whatever the chunking, a line
/// rewritten with `\r` kept as its last state, lines longer than [`MAX_LINE_BYTES`] cut into
/// marked pieces, secrets masked, written in batches, and no more than the log's size limit
/// kept. A write the database cannot take now (it is restarting) is tried again later.
pub(crate) struct LogWriter {
    core: Core,
    build_id: Uuid,
    claim: Option<Claim>,
    partial: String,
    pub(crate) pending: Vec<String>,
    secrets: Vec<String>,
    /// Bytes of text kept so far, and the limit.
    kept: u64,
    max_bytes: u64,
    truncated: bool,
    /// Whether the database's refusal was already logged.
    warned: bool,
}

/// The build finished elsewhere (cancelled) while it ran.
#[derive(Debug)]
pub(crate) struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the build was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Lines held while the database does not answer; past this, writing waits for it.
const MAX_HELD_LINES: usize = 20_000;

impl LogWriter {
    pub(crate) fn new(
        core: Core,
        build_id: Uuid,
        claim: Option<Claim>,
        config: &BTreeMap<String, String>,
        max_bytes: u64,
    ) -> Self {
        Self {
            core,
            build_id,
            claim,
            partial: String::new(),
            pending: Vec::new(),
            secrets: secrets_of(config),
            kept: 0,
            max_bytes,
            truncated: false,
            warned: false,
        }
    }

    /// Takes a chunk of output; complete lines wait in the batch. An unfinished line that
    /// grows past the cap is cut now, so no output grows memory without bound: masked first,
    /// and cut only where no secret can still be completed across the cut by what comes next.
    pub(crate) fn push(&mut self, chunk: &str) {
        self.partial.push_str(chunk);
        for line in take_lines(&mut self.partial) {
            self.line(line);
        }
        let longest = self.secrets.first().map_or(0, String::len);
        if self.partial.len() > MAX_LINE_BYTES + longest {
            if let Some(i) = self.partial.rfind('\r') {
                self.partial.drain(..=i);
            }
            self.partial = mask(std::mem::take(&mut self.partial), &self.secrets);
            while self.partial.len() > MAX_LINE_BYTES + longest {
                let at = floor_char_boundary(&self.partial, MAX_LINE_BYTES);
                let mut piece: String = self.partial.drain(..at).collect();
                piece.push_str(CUT_MARK);
                self.keep(piece);
            }
        }
    }

    /// Adds one whole line: masked, then cut into pieces when it is too long.
    pub(crate) fn line(&mut self, text: impl Into<String>) {
        for piece in cut(self.mask(text.into())) {
            self.keep(piece);
        }
    }

    /// Adds a masked line to the batch while the log is under its size limit.
    fn keep(&mut self, line: String) {
        if self.truncated {
            return;
        }
        self.kept += line.len() as u64 + 1;
        if self.kept > self.max_bytes {
            self.truncated = true;
            self.pending.push(format!(
                "The log is longer than the limit of {} bytes (SLIPWAY_MAX_LOG_BYTES); the rest of it is not kept. The build goes on.",
                self.max_bytes
            ));
            return;
        }
        self.pending.push(line);
    }

    pub(crate) fn mask(&self, line: String) -> String {
        mask(line, &self.secrets)
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the batch (and a partial last line when `all`). A build that is no longer
    /// running (cancelled) takes no more lines: `Cancelled`; a claim taken over: `LostClaim`.
    /// While the database does not answer, the lines wait for the next flush; `all` and a
    /// batch grown too large wait for the database instead.
    pub(crate) async fn flush(&mut self, all: bool) -> anyhow::Result<()> {
        if all && !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            let rest = rest.rsplit('\r').next().unwrap_or("").to_owned();
            self.line(rest);
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let fence = self.claim.as_ref().map(|c| c.fence);
        let append = || {
            append_lines(
                &self.core,
                self.build_id,
                &self.pending,
                Some(BuildStatus::Pending),
                fence,
            )
        };
        let written = match append().await {
            Err(e) if e.is_unavailable() && !all && self.pending.len() < MAX_HELD_LINES => {
                if !self.warned {
                    tracing::warn!(build = %self.build_id, error = %format!("{e:#}"), "cannot write log lines now; holding them");
                    self.warned = true;
                }
                return Ok(());
            }
            Err(e) if e.is_unavailable() => match &self.claim {
                Some(claim) => persist(claim, append).await?,
                None => return Err(e.into()),
            },
            r => r?,
        };
        self.warned = false;
        if !written {
            return Err(Cancelled.into());
        }
        self.pending.clear();
        Ok(())
    }
}

/// `line` cut into pieces of at most [`MAX_LINE_BYTES`] (at character boundaries), each
/// but the last marked.
fn cut(mut line: String) -> Vec<String> {
    let mut pieces = Vec::new();
    while line.len() > MAX_LINE_BYTES {
        let at = floor_char_boundary(&line, MAX_LINE_BYTES);
        let rest = line.split_off(at);
        line.push_str(CUT_MARK);
        pieces.push(line);
        line = rest;
    }
    pieces.push(line);
    pieces
}

/// The largest character boundary of `s` at or below `at`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Appends `lines` to a build's log, taking their sequence numbers under the build's row lock.
/// With `only_if`, nothing is written unless the build has that status; with `fence`, nothing
/// unless the claim still holds (else `LostClaim`). Answers whether the lines were written.
pub(crate) async fn append_lines(
    core: &Core,
    build_id: Uuid,
    lines: &[String],
    only_if: Option<BuildStatus>,
    fence: Option<Fence>,
) -> Result<bool> {
    let mut tx = core.pool.begin().await?;
    // A running build's lines need not wait for the disk: after a crash the build fails anyway,
    // and its counter and lines roll back together. The final lines and status (written by
    // `finish_build`) commit durably.
    sqlx::query!("set local synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    if let Some(f) = fence {
        f.hold(&mut tx).await?;
    }
    let written = append_lines_in(&mut tx, build_id, lines, only_if).await?;
    tx.commit().await?;
    Ok(written)
}

/// [`append_lines`] inside the caller's transaction.
pub(crate) async fn append_lines_in(
    tx: &mut sqlx::PgConnection,
    build_id: Uuid,
    lines: &[String],
    only_if: Option<BuildStatus>,
) -> Result<bool> {
    let last: Option<i32> = sqlx::query_scalar!(
        "update builds set log_lines = log_lines + $2
          where id = $1 and ($3::text is null or status = $3)
          returning log_lines",
        build_id,
        lines.len() as i32,
        only_if as _
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(last) = last else {
        return Ok(false);
    };
    let first = last - lines.len() as i32 + 1;
    sqlx::query!(
        "insert into build_log_lines (build_id, seq, text)
         select $1, $2 + n - 1, t from unnest($3::text[]) with ordinality as u(t, n)",
        build_id,
        i64::from(first),
        lines
    )
    .execute(&mut *tx)
    .await?;
    // Delivered at commit.
    sqlx::query!(
        "select pg_notify($1, $2)",
        LOG_CHANNEL,
        build_id.to_string()
    )
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// The complete lines at the front of `partial` (which keeps the unfinished rest). A line
/// rewritten with `\r` (progress output) is kept as its last state.
fn take_lines(partial: &mut String) -> Vec<String> {
    let Some(end) = partial.rfind('\n') else {
        return Vec::new();
    };
    let done: String = partial.drain(..=end).collect();
    done.split_terminator('\n')
        .map(|l| {
            let l = l.trim_end_matches('\r');
            l.rsplit('\r').next().unwrap_or("").to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::take_lines;

    #[test]
    fn lines_are_split_on_newlines_whatever_the_chunks() {
        let mut partial = String::new();
        let mut lines = Vec::new();
        for chunk in [
            "Step 1/2 : FROM x",
            "\n ---> abc\nhal",
            "f\n",
            "",
            "\n",
            "tail",
        ] {
            partial.push_str(chunk);
            lines.extend(take_lines(&mut partial));
        }
        assert_eq!(lines, ["Step 1/2 : FROM x", " ---> abc", "half", ""]);
        assert_eq!(partial, "tail");
    }

    #[test]
    fn a_progress_line_keeps_its_last_state() {
        let mut partial = "10%\r50%\r100%\r\ndone\r\n".to_owned();
        assert_eq!(take_lines(&mut partial), ["100%", "done"]);
    }
}
