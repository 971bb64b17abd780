//! The process's connections to the cluster's Redis: the redis crate's synchronous client (no async
//! runtime) with a small pool of idle connections, every command bounded by timeouts, and errors
//! that name Redis and its URL (password hidden). Calls from Lua wait through `goroutine::io_wait`,
//! so `--timeout`, Ctrl-C and handler deadlines reach them.

use crate::runtime::{ctx, goroutine, report};
use redis::{Connection, ConnectionLike, RedisError, RedisResult};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a reply may take. Longer than any blocking command's own timeout ([`SLICE`]), so a
/// `BLPOP` is never abandoned while Redis could still hand it an element.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept for reuse; more are opened while more goroutines need one at once.
const MAX_IDLE: usize = 16;
/// How long one blocking Redis command waits (`BLPOP`'s timeout): cancellation, the goroutine's
/// events and closed channels are looked at between two.
pub const SLICE: Duration = Duration::from_millis(100);

/// The Lua scripts the cluster runs (each is one atomic step in Redis).
pub struct Scripts {
    pub chan_open: redis::Script,
    pub send: redis::Script,
    pub take: redis::Script,
    pub close: redis::Script,
    pub incr: redis::Script,
    pub publish: redis::Script,
}

/// One Redis server, as the process sees it.
pub struct Redis {
    client: redis::Client,
    /// The URL as messages show it (no password).
    pub shown: String,
    idle: parking_lot::Mutex<Vec<Connection>>,
    /// Set while an outage is being reported (once), cleared when Redis answers again.
    down: AtomicBool,
    pub scripts: Scripts,
}

/// `redis://user:secret@host` → `redis://user:***@host`.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let host_part = rest.split('/').next().unwrap_or(rest);
    match host_part.rfind('@') {
        Some(at) => {
            let creds = &host_part[..at];
            let user = creds.split(':').next().unwrap_or("");
            let hidden = if creds.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_string()
            };
            format!("{}{hidden}{}", &url[..scheme_end], &rest[at..])
        }
        None => url.to_string(),
    }
}

impl Redis {
    /// Prepares a client for `url` (nothing is connected yet).
    pub fn open(url: &str) -> Result<Redis, String> {
        let shown = redact(url);
        let client = redis::Client::open(url)
            .map_err(|e| format!("invalid cluster URL {shown}: {e} (expected redis://[user:pass@]host:port[/db] or rediss://...)"))?;
        Ok(Redis {
            client,
            shown,
            idle: parking_lot::Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
            scripts: Scripts {
                chan_open: redis::Script::new(super::scripts::CHAN_OPEN),
                send: redis::Script::new(super::scripts::SEND),
                take: redis::Script::new(super::scripts::TAKE),
                close: redis::Script::new(super::scripts::CLOSE),
                incr: redis::Script::new(super::scripts::INCR),
                publish: redis::Script::new(super::scripts::PUBLISH),
            },
        })
    }

    /// A new connection with the timeouts set.
    pub fn connect(&self) -> RedisResult<Connection> {
        let conn = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        conn.set_read_timeout(Some(REPLY_TIMEOUT))?;
        conn.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(conn)
    }

    /// Connects and pings: the check `--cluster` makes before the run starts.
    pub fn ping(&self) -> Result<(), String> {
        let mut conn = self
            .connect()
            .map_err(|e| format!("cannot reach Redis at {}: {e}", self.shown))?;
        redis::cmd("PING")
            .query::<String>(&mut conn)
            .map_err(|e| format!("Redis at {} does not answer PING: {e}", self.shown))?;
        self.put_back(conn);
        Ok(())
    }

    fn put_back(&self, conn: Connection) {
        if conn.is_open() {
            let mut idle = self.idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }

    /// Runs `f` on a pooled connection. A pooled connection found dead (Redis restarted since it
    /// was last used) is replaced once by a fresh one and `f` runs again: the command never
    /// reached a server then. A connection that failed is never reused: its reply may still come.
    pub fn with<T>(&self, f: &mut dyn FnMut(&mut Connection) -> RedisResult<T>) -> RedisResult<T> {
        let pooled = self.idle.lock().pop();
        let from_pool = pooled.is_some();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        match f(&mut conn) {
            Ok(v) => {
                self.put_back(conn);
                Ok(v)
            }
            Err(e) if from_pool && e.is_connection_dropped() => {
                // Every idle connection is from before the restart.
                self.idle.lock().clear();
                let mut fresh = self.connect()?;
                let r = f(&mut fresh);
                if r.is_ok() || !is_unreachable(r.as_ref().err()) {
                    self.put_back(fresh);
                }
                r
            }
            Err(e) => {
                if !e.is_io_error() && !is_unreachable(Some(&e)) {
                    // A reply from Redis (a script's error, say): the connection is fine.
                    self.put_back(conn);
                }
                Err(e)
            }
        }
    }

    /// Runs `f` for builtin `what` from Lua: waits through `io_wait`, and turns a failure into an
    /// error naming Redis.
    pub fn call<T>(
        &self,
        lua: &mlua::Lua,
        what: &dyn Fn() -> String,
        f: &mut dyn FnMut(&mut Connection) -> RedisResult<T>,
    ) -> mlua::Result<T> {
        self.wait(lua, f)?.map_err(|e| self.error(&what(), &e))
    }

    /// Like [`Redis::call`], leaving Redis's answer to the caller.
    pub fn wait<T>(
        &self,
        lua: &mlua::Lua,
        f: &mut dyn FnMut(&mut Connection) -> RedisResult<T>,
    ) -> mlua::Result<RedisResult<T>> {
        let c = ctx(lua);
        goroutine::io_wait(lua, &c, &mut || Ok(Some(self.with(f))))
    }

    /// The error a script sees when Redis failed `what`.
    pub fn error(&self, what: &str, e: &RedisError) -> mlua::Error {
        if is_unreachable(Some(e)) {
            mlua::Error::runtime(format!(
                "{what}: Redis at {} is unreachable ({e})",
                self.shown
            ))
        } else {
            mlua::Error::runtime(format!("{what}: Redis at {}: {e}", self.shown))
        }
    }

    /// A blocked wait lost Redis: said once per outage on stderr; the wait goes on.
    pub fn outage(&self, e: &RedisError) {
        if !self.down.swap(true, Ordering::AcqRel) {
            report::emit(&format!(
                "cluster: Redis at {} is unreachable ({e}); blocked receives wait for it\n",
                self.shown
            ));
        }
    }

    /// Redis answered: ends a reported outage.
    pub fn answered(&self) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::AcqRel) {
            report::emit(&format!("cluster: Redis at {} is back\n", self.shown));
        }
    }
}

/// Whether `e` means Redis could not be reached or the connection broke (as opposed to an
/// error reply).
pub fn is_unreachable(e: Option<&RedisError>) -> bool {
    e.is_some_and(|e| {
        e.is_connection_dropped() || e.is_connection_refusal() || e.is_io_error() || e.is_timeout()
    })
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("redis://u:secret@h:1/2"), "redis://u:***@h:1/2");
        assert_eq!(redact("rediss://:pw@h:1"), "rediss://:***@h:1");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact("redis://tok@h"), "redis://***@h");
    }
}
