//! Live build logs for any number of viewers in any number of processes.
//!
//! Each process holds one `LISTEN slipway_log` connection (the [`LogHub`]). A build that has
//! viewers gets one shared feed: on each notification it reads the new lines once and keeps the
//! most recent ones in memory. A viewer ([`Tail`]) holds only a cursor: it reads from the feed's
//! memory when its next line is there, and from the database when it has fallen behind (or
//! starts before the feed). Nothing is pushed into a viewer, so a slow viewer costs nothing but
//! its own reads, never slows the build or other viewers, and is never skipped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::{BuildStatus, LogFrame};
use sqlx::postgres::PgListener;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

use crate::{Core, Result};

/// Channel on which a build's new log lines are announced (payload: the build id).
pub const LOG_CHANNEL: &str = "slipway_log";

pub use domain::LogLine;

/// What a viewer gets next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailEvent {
    /// One or more lines, in order, continuing from the previous event.
    Lines(Batch),
    /// The build finished with this status (succeeded or failed) and every line was sent.
    Done(BuildStatus),
}

/// Lines read once and shared by every viewer of the feed, with their websocket frame
/// (`{"lines": […]}`) serialized once too.
#[derive(Debug, PartialEq, Eq)]
struct Chunk {
    lines: Vec<LogLine>,
    frame: Arc<str>,
}

impl Chunk {
    fn new(lines: Vec<LogLine>) -> Self {
        let frame = frame_of(&lines).into();
        Chunk { lines, frame }
    }
}

fn frame_of(lines: &[LogLine]) -> String {
    let frame = LogFrame {
        lines: lines.into(),
        status: None,
    };
    serde_json::to_string(&frame).expect("lines serialize")
}

/// A viewer's next lines: a whole shared chunk, part of one, or lines read for this viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    chunk: Arc<Chunk>,
    start: usize,
    end: usize,
}

impl Batch {
    fn owned(lines: Vec<LogLine>) -> Self {
        let end = lines.len();
        Batch {
            chunk: Arc::new(Chunk::new(lines)),
            start: 0,
            end,
        }
    }

    pub fn lines(&self) -> &[LogLine] {
        &self.chunk.lines[self.start..self.end]
    }

    /// The websocket frame `{"lines": […]}`; shared when the batch is a whole chunk.
    pub fn frame(&self) -> Arc<str> {
        if self.start == 0 && self.end == self.chunk.lines.len() {
            self.chunk.frame.clone()
        } else {
            frame_of(self.lines()).into()
        }
    }
}

/// Lines a feed keeps in memory, and their bytes; older lines are read from the database.
const FEED_LINES: usize = 20_000;
const FEED_BYTES: usize = 8 << 20;
/// Lines read or sent at once, and their most bytes (a line is at most 16 KiB, so a batch
/// always has one).
const BATCH: i32 = 2_000;
pub(crate) const BATCH_BYTES: i64 = 1 << 20;
/// A feed re-reads this often without a notification (one lost while the listener reconnected).
const POLL: Duration = Duration::from_secs(2);

/// The process's listener and its feeds. Cheap to clone.
#[derive(Clone)]
pub struct LogHub {
    inner: Arc<HubInner>,
}

struct HubInner {
    core: Core,
    feeds: Mutex<HashMap<Uuid, Arc<Feed>>>,
}

struct Feed {
    build_id: Uuid,
    state: watch::Sender<Snapshot>,
    poke: Notify,
}

/// What a feed has read so far.
#[derive(Default)]
struct Snapshot {
    /// The first read has happened.
    ready: bool,
    /// The seq of the first line in `chunks`, and one past the last.
    first: i32,
    next: i32,
    chunks: VecDeque<Arc<Chunk>>,
    lines: usize,
    bytes: usize,
    /// The final status, once every line up to `next` is all there is.
    done: Option<BuildStatus>,
}

impl LogHub {
    /// Starts the process's listener. Feeds also poll, so a listener that is down (and
    /// reconnecting) only delays lines.
    pub fn start(core: Core) -> Self {
        let hub = LogHub {
            inner: Arc::new(HubInner {
                core,
                feeds: Mutex::new(HashMap::new()),
            }),
        };
        let listener = hub.clone();
        tokio::spawn(async move { listener.listen().await });
        hub
    }

    async fn listen(self) {
        loop {
            if self.inner.core.pool().is_closed() {
                return;
            }
            let mut listener = match PgListener::connect_with(self.inner.core.pool()).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "log listener: cannot connect; feeds poll meanwhile");
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(LOG_CHANNEL).await {
                tracing::warn!(error = %e, "log listener: LISTEN failed; feeds poll meanwhile");
                tokio::time::sleep(POLL).await;
                continue;
            }
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        if let Ok(id) = n.payload().parse::<Uuid>() {
                            let feed = self.inner.feeds.lock().unwrap().get(&id).cloned();
                            if let Some(feed) = feed {
                                feed.poke.notify_one();
                            }
                        }
                    }
                    // The connection dropped and will be re-made: notifications may be lost.
                    Ok(None) => self.poke_all(),
                    Err(_) if self.inner.core.pool().is_closed() => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "log listener lost its connection");
                        self.poke_all();
                        break;
                    }
                }
            }
        }
    }

    fn poke_all(&self) {
        for feed in self.inner.feeds.lock().unwrap().values() {
            feed.poke.notify_one();
        }
    }

    /// A viewer of `build_id`'s log from line `from` (1 is the first). The caller has checked
    /// the viewer may read the build.
    pub fn tail(&self, build_id: Uuid, from: i32) -> Tail {
        let mut feeds = self.inner.feeds.lock().unwrap();
        let feed = feeds
            .entry(build_id)
            .or_insert_with(|| {
                let feed = Arc::new(Feed {
                    build_id,
                    state: watch::Sender::new(Snapshot::default()),
                    poke: Notify::new(),
                });
                tokio::spawn(self.clone().run_feed(feed.clone()));
                feed
            })
            .clone();
        // Subscribed under the lock, so the feed cannot retire between lookup and subscribe.
        let rx = feed.state.subscribe();
        Tail {
            core: self.inner.core.clone(),
            _feed: feed,
            rx,
            build_id,
            next: from.max(1),
        }
    }

    /// Reads new lines whenever poked (or every [`POLL`]) until the build is done or nobody
    /// watches.
    async fn run_feed(self, feed: Arc<Feed>) {
        let mut cursor: Option<i32> = None;
        loop {
            match read_new(&self.inner.core, feed.build_id, cursor).await {
                Ok((status, lines, full)) => {
                    let finished = matches!(
                        status,
                        None | Some(BuildStatus::Succeeded | BuildStatus::Failed)
                    );
                    let start = lines.first().map(|l| l.seq);
                    if let Some(last) = lines.last() {
                        cursor = Some(last.seq + 1);
                    }
                    feed.state.send_modify(|s| {
                        if !s.ready {
                            s.ready = true;
                            s.first = start.or(cursor).unwrap_or(1);
                            s.next = s.first;
                        }
                        if !lines.is_empty() {
                            s.push(lines);
                        }
                        if finished && !full {
                            // A build that is gone ends as failed.
                            s.done = Some(status.unwrap_or(BuildStatus::Failed));
                        }
                    });
                    if cursor.is_none() {
                        // Nothing logged yet: the first line will be 1.
                        cursor = Some(feed.state.borrow().next);
                    }
                    if finished && !full {
                        break;
                    }
                    if full {
                        continue;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, build = %feed.build_id, "log feed read failed")
                }
            }
            tokio::select! {
                _ = feed.poke.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = feed.state.closed() => {}
            }
            if self.retire_if_unwatched(&feed) {
                return;
            }
        }
        // Done: viewers read what remains; the feed leaves the map once they have gone.
        loop {
            feed.state.closed().await;
            if self.retire_if_unwatched(&feed) {
                return;
            }
        }
    }

    fn retire_if_unwatched(&self, feed: &Arc<Feed>) -> bool {
        let mut feeds = self.inner.feeds.lock().unwrap();
        if feed.state.receiver_count() > 0 {
            return false;
        }
        if feeds
            .get(&feed.build_id)
            .is_some_and(|f| Arc::ptr_eq(f, feed))
        {
            feeds.remove(&feed.build_id);
        }
        true
    }
}

impl Snapshot {
    fn push(&mut self, lines: Vec<LogLine>) {
        self.next = lines.last().map_or(self.next, |l| l.seq + 1);
        self.lines += lines.len();
        self.bytes += weight(&lines);
        self.chunks.push_back(Arc::new(Chunk::new(lines)));
        while self.chunks.len() > 1 && (self.lines > FEED_LINES || self.bytes > FEED_BYTES) {
            let old = self.chunks.pop_front().expect("more than one chunk");
            self.lines -= old.lines.len();
            self.bytes -= weight(&old.lines);
            self.first = self.chunks[0].lines[0].seq;
        }
    }

    /// The lines from `from` to the end of the chunk holding it, if the feed has them.
    fn batch_from(&self, from: i32) -> Option<Batch> {
        let chunk = self
            .chunks
            .iter()
            .find(|c| c.lines[c.lines.len() - 1].seq >= from)?;
        let start = (from - chunk.lines[0].seq).max(0) as usize;
        Some(Batch {
            chunk: chunk.clone(),
            start,
            end: chunk.lines.len(),
        })
    }
}

/// What lines cost the feed's memory bound: their text and their frame, roughly.
fn weight(lines: &[LogLine]) -> usize {
    lines.iter().map(|l| 2 * l.text.len() + 48).sum()
}

/// The build's status and its lines from `from` (at most [`BATCH`] lines and about
/// [`BATCH_BYTES`]), and whether the read was cut short. Without `from`, the lines start near
/// the end, so a fresh feed holds the recent lines. One statement, so when the status is final
/// the lines are complete (the last line is written with the status).
async fn read_new(
    core: &Core,
    build_id: Uuid,
    from: Option<i32>,
) -> Result<(Option<BuildStatus>, Vec<LogLine>, bool)> {
    let rows: Vec<(BuildStatus, Option<i32>, Option<String>)> = sqlx::query!(
        r#"select b.status as "status: BuildStatus", l.seq as "seq?", l.text as "text?"
           from builds b
           left join lateral (
                select seq, text from (
                    select seq, text, sum(octet_length(text)) over (order by seq) as upto
                      from (select seq, text from build_log_lines
                             where build_id = b.id
                               and seq >= coalesce($2, greatest(1, b.log_lines + 1 - $3 / 2))
                             order by seq limit $3) page) sized
                 where upto - octet_length(text) < $4
           ) l on true
          where b.id = $1
          order by l.seq"#,
        build_id,
        from,
        BATCH,
        BATCH_BYTES
    )
    .fetch_all(&core.pool)
    .await?
    .into_iter()
    .map(|r| (r.status, r.seq, r.text))
    .collect();
    let status = rows.first().map(|r| r.0);
    let lines: Vec<LogLine> = rows
        .into_iter()
        .filter_map(|(_, seq, text)| {
            Some(LogLine {
                seq: seq?,
                text: text?,
            })
        })
        .collect();
    // Cut short by its line count or its bytes: there may be more right away.
    let full = lines.len() as i32 >= BATCH
        || lines.iter().map(|l| l.text.len() as i64).sum::<i64>() >= BATCH_BYTES;
    Ok((status, lines, full))
}

/// One viewer's cursor over a build's log.
pub struct Tail {
    core: Core,
    _feed: Arc<Feed>,
    rx: watch::Receiver<Snapshot>,
    build_id: Uuid,
    next: i32,
}

impl Tail {
    /// Waits for the next lines, or the end. Cancel-safe: a cancelled call loses nothing.
    pub async fn next(&mut self) -> Result<TailEvent> {
        loop {
            enum Step {
                Lines(Option<Batch>),
                FromDb(i32),
                Done(BuildStatus),
                Wait,
            }
            let step = {
                let s = self.rx.borrow_and_update();
                if !s.ready {
                    Step::Wait
                } else if self.next < s.first {
                    Step::FromDb(s.first)
                } else if self.next < s.next {
                    Step::Lines(s.batch_from(self.next))
                } else if let Some(done) = &s.done {
                    Step::Done(*done)
                } else {
                    Step::Wait
                }
            };
            match step {
                Step::Lines(Some(batch)) => {
                    self.next = batch.lines()[batch.lines().len() - 1].seq + 1;
                    return Ok(TailEvent::Lines(batch));
                }
                Step::Lines(_) | Step::Wait => {
                    if self.rx.changed().await.is_err() {
                        // The feed's sender lives as long as this tail; unreachable in practice.
                        return Ok(TailEvent::Done(BuildStatus::Failed));
                    }
                }
                Step::FromDb(upto) => {
                    let lines: Vec<LogLine> = sqlx::query_as!(
                        LogLine,
                        r#"select seq as "seq!", text as "text!" from (
                             select seq, text, sum(octet_length(text)) over (order by seq) as upto
                               from (select seq, text from build_log_lines
                                      where build_id = $1 and seq >= $2 and seq < $3
                                      order by seq limit $4) page) sized
                          where upto - octet_length(text) < $5
                          order by seq"#,
                        self.build_id,
                        self.next,
                        upto,
                        i64::from(BATCH),
                        BATCH_BYTES
                    )
                    .fetch_all(&self.core.pool)
                    .await?;
                    match lines.last() {
                        Some(last) => {
                            self.next = last.seq + 1;
                            return Ok(TailEvent::Lines(Batch::owned(lines)));
                        }
                        None => self.next = upto,
                    }
                }
                Step::Done(status) => return Ok(TailEvent::Done(status)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(from: i32, n: i32) -> Vec<LogLine> {
        (from..from + n)
            .map(|seq| LogLine {
                seq,
                text: format!("line {seq}"),
            })
            .collect()
    }

    #[test]
    fn a_feed_keeps_recent_lines_and_serves_from_any_seq_it_holds() {
        let mut s = Snapshot {
            ready: true,
            first: 1,
            next: 1,
            ..Default::default()
        };
        s.push(lines(1, 10));
        s.push(lines(11, 5));
        assert_eq!(s.next, 16);
        let got = s.batch_from(9).unwrap();
        assert_eq!(
            got.lines().iter().map(|l| l.seq).collect::<Vec<_>>(),
            vec![9, 10]
        );
        // Part of a chunk gets its own frame; a whole chunk shares the feed's.
        assert_eq!(
            &*got.frame(),
            r#"{"lines":[{"seq":9,"text":"line 9"},{"seq":10,"text":"line 10"}]}"#
        );
        let whole = s.batch_from(11).unwrap();
        assert!(Arc::ptr_eq(&whole.frame(), &s.chunks[1].frame));
        assert!(s.batch_from(16).is_none());
    }

    #[test]
    fn a_feed_drops_old_chunks_past_its_bound() {
        let mut s = Snapshot {
            ready: true,
            first: 1,
            next: 1,
            ..Default::default()
        };
        for k in 0..30 {
            s.push(lines(1 + k * 1000, 1000));
        }
        assert!(s.lines <= FEED_LINES);
        assert_eq!(s.first, s.chunks[0].lines[0].seq);
        assert_eq!(s.next, 30_001);
        assert_eq!(s.batch_from(s.first).unwrap().lines()[0].seq, s.first);
    }
}
