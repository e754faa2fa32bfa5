//! A throwaway PostgreSQL server for the tests: initdb into a temporary
//! directory, listening on 127.0.0.1 only, on a free port, trusting loopback.
//!
//! PostgreSQL refuses to run as root, so as root it runs as the `postgres`
//! user (which Debian's `postgresql` package creates). A shell holds the
//! server; its standard input is this process's pipe, so when the test
//! process ends, however it ends, the shell stops the server and deletes
//! the directory.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tower_users::store::{PostgresConfig, PostgresStore};

/// A running server.
pub struct Server {
    pub port: u16,
    /// Closed at exit, which stops the server.
    _lifeline: Mutex<ChildStdin>,
    /// The shell holding the server; it outlives this process by the
    /// moment it takes to stop the server, so it is never waited for.
    _shell: Mutex<Child>,
}

const SCRIPT: &str = r#"
set -eu
bin="$1"; port="$2"
# /tmp, not $TMPDIR: the postgres user must be able to reach it.
dir=$(mktemp -d /tmp/tower-users-pg.XXXXXX)
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
# A working directory the postgres user may enter.
cd "$dir"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
if ! as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync \
    >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2; exit 1
fi
if ! as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 \
    -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=300" \
    start >/dev/null; then
  cat "$dir/server.log" >&2; exit 1
fi
echo ready
cat >/dev/null || true
"#;

/// The directory holding initdb, pg_ctl and postgres: `TOWER_USERS_PG_BIN`,
/// else the newest /usr/lib/postgresql/N/bin (Debian), else the one on PATH.
fn binaries() -> Option<PathBuf> {
    let complete = |dir: &PathBuf| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).exists())
    };
    if let Some(dir) = std::env::var_os("TOWER_USERS_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(complete);
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| complete(dir))
        .collect();
    debian.sort();
    if let Some((_, dir)) = debian.pop() {
        return Some(dir);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(complete)
}

fn start() -> Option<Server> {
    let Some(bin) = binaries() else {
        eprintln!(
            "\n{bar}\nSKIPPED: PostgreSQL tests: no initdb/pg_ctl/postgres found (install Debian's \
             `postgresql`, or set TOWER_USERS_PG_BIN); .ci/run installs it, so CI never skips\n{bar}\n",
            bar = "!".repeat(78)
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new("sh")
        .args(["-c", SCRIPT, "pg-server"])
        .arg(&bin)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("sh runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("the server script's output");
    assert_eq!(
        line.trim(),
        "ready",
        "PostgreSQL did not start (see stderr)"
    );
    Some(Server {
        port,
        _lifeline: Mutex::new(child.stdin.take().expect("piped")),
        _shell: Mutex::new(child),
    })
}

/// The shared server, started at first use; `None` (after a loud message)
/// where PostgreSQL is not installed.
pub fn server() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    SERVER.get_or_init(start).as_ref()
}

impl Server {
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

/// A schema name no other store in this process uses, so that tests run in
/// parallel on one database without seeing each other's rows.
pub fn fresh_schema() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store in a fresh schema, for synchronous callers (the conformance
/// macro): the pool connects and the schema migrates at first use, on the
/// caller's runtime. Without PostgreSQL the process ends here after the
/// loud skip message: the macro's tests cannot return early themselves.
pub fn lazy_store() -> PostgresStore {
    lazy_store_at("read committed")
}

/// [`lazy_store`] with every transaction SERIALIZABLE, as on CockroachDB:
/// concurrent writers then fail with serialization errors (40001) that the
/// store must retry.
pub fn lazy_serializable_store() -> PostgresStore {
    lazy_store_at("serializable")
}

fn lazy_store_at(isolation: &str) -> PostgresStore {
    let Some(server) = server() else {
        std::process::exit(0);
    };
    let options = PgConnectOptions::from_str(&server.url())
        .expect("a valid URL")
        .options([("default_transaction_isolation", isolation)]);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_lazy_with(options);
    PostgresStore::lazy(pool, PostgresConfig::default().schema(fresh_schema()))
        .expect("valid names")
}

/// A migrated store in a fresh schema, with `connections` in its pool, all
/// open already: concurrent tasks then meet in the database at once rather
/// than one after another while connections are being opened.
pub async fn store(server: &Server, connections: u32) -> PostgresStore {
    store_in(server, connections).await.0
}

/// [`store`], and the name of its schema, for tests that reach into its
/// tables.
pub async fn store_in(server: &Server, connections: u32) -> (PostgresStore, String) {
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .min_connections(connections)
        .connect(&server.url())
        .await
        .expect("connects");
    let mut open = Vec::new();
    for _ in 0..connections {
        open.push(pool.acquire().await.expect("a connection"));
    }
    drop(open);
    let schema = fresh_schema();
    let store = PostgresStore::from_pool_with(pool, PostgresConfig::default().schema(&*schema))
        .await
        .expect("migrates");
    (store, schema)
}

/// Moves every outbox lease and due time in `schema` back by `by`: time
/// passing for a store that measures leases by the database's clock.
pub async fn age_outbox(store: &PostgresStore, schema: &str, by: time::Duration) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE \"{schema}\".outbox SET next_attempt_at = next_attempt_at - \
         $1::bigint * interval '1 microsecond'"
    )))
    .bind(i64::try_from(by.whole_microseconds()).expect("a short time"))
    .execute(store.pool())
    .await
    .expect("ages the outbox");
}
