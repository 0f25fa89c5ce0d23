//! Finding a PostgreSQL server for `demo` and the integration tests: `DATABASE_URL`, else the
//! local default (127.0.0.1:5432, user `postgres`), else a private throw-away cluster started
//! with the system's `initdb`/`pg_ctl`. Never used by `serve` or `migrate`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use url::Url;

/// The app tables as the app creates them (without the SCIM additions).
pub const APP_SCHEMA_SQL: &str = include_str!("../../tests/fixtures/app-schema.sql");

const LOCAL_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Set to `private` to skip `DATABASE_URL` and the local default and always use the private
/// cluster.
pub const FORCE_PRIVATE_VAR: &str = "SCIM_DEV_POSTGRES";

#[derive(Debug, Clone)]
pub enum Source {
    DatabaseUrl,
    LocalDefault,
    PrivateCluster(PathBuf),
}

/// A server the current user may create databases on.
#[derive(Debug, Clone)]
pub struct DevServer {
    admin_url: Url,
    pub source: Source,
}

impl DevServer {
    /// URL of the maintenance database used for CREATE/DROP DATABASE.
    pub fn admin_url(&self) -> &str {
        self.admin_url.as_str()
    }

    /// URL of database `name` on the same server.
    pub fn database_url(&self, name: &str) -> String {
        let mut url = self.admin_url.clone();
        url.set_path(&format!("/{name}"));
        url.to_string()
    }

    pub fn describe(&self) -> String {
        match &self.source {
            Source::DatabaseUrl => format!(
                "DATABASE_URL ({})",
                crate::db::redacted_url(self.admin_url())
            ),
            Source::LocalDefault => "the local server on 127.0.0.1:5432".to_owned(),
            Source::PrivateCluster(dir) => format!("a private cluster in {}", dir.display()),
        }
    }

    /// Drops (if present) and creates database `name`; returns its URL.
    pub async fn recreate_database(&self, name: &str) -> anyhow::Result<String> {
        let ident = quote_ident(name);
        let mut admin = AsyncPgConnection::establish(self.admin_url())
            .await
            .with_context(|| format!("connecting to {}", self.describe()))?;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {ident}"))
            .await?;
        Ok(self.database_url(name))
    }
}

/// Creates the app's tables in an empty database, as the app would.
pub async fn apply_app_schema(database_url: &str) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(database_url).await?;
    conn.batch_execute(APP_SCHEMA_SQL)
        .await
        .context("applying the app schema fixture")?;
    Ok(())
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Finds a server: `DATABASE_URL`, else the local default, else a private cluster.
pub async fn locate() -> anyhow::Result<DevServer> {
    let force_private = std::env::var(FORCE_PRIVATE_VAR).is_ok_and(|v| v == "private");
    if !force_private {
        if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            let admin_url = Url::parse(&url).context("DATABASE_URL is not a valid URL")?;
            return Ok(DevServer {
                admin_url,
                source: Source::DatabaseUrl,
            });
        }
        if reachable(LOCAL_DEFAULT).await {
            return Ok(DevServer {
                admin_url: Url::parse(LOCAL_DEFAULT)?,
                source: Source::LocalDefault,
            });
        }
    }
    let dir = cluster_dir();
    let port = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || start_private_cluster(&dir)
    })
    .await??;
    let admin_url = Url::parse(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))?;
    for _ in 0..50 {
        if reachable(admin_url.as_str()).await {
            return Ok(DevServer {
                admin_url,
                source: Source::PrivateCluster(dir),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the private PostgreSQL cluster in {} started but does not accept connections; see its server.log", dir.display())
}

async fn reachable(url: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(3), AsyncPgConnection::establish(url)).await,
        Ok(Ok(_))
    )
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Under `target/` of the source tree when it exists; PostgreSQL refuses to run as root, so
/// as root the cluster belongs to the `postgres` user and lives in the temp directory, where
/// that user can reach it.
fn cluster_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    if running_as_root() || !target.is_dir() {
        std::env::temp_dir().join("scim-sidecar-dev-postgres")
    } else {
        target.join("dev-postgres")
    }
}

const INSTALL_HINT: &str =
    "PostgreSQL is needed: no server answers on 127.0.0.1:5432, DATABASE_URL is not set, \
and no initdb/pg_ctl was found to start a private one. Install PostgreSQL \
(Debian/Ubuntu: `apt-get install postgresql`; Fedora: `dnf install postgresql-server`; \
macOS: `brew install postgresql@16`), or set DATABASE_URL to a server you may create databases on.";

/// Initialises (once) and starts (if stopped) the private cluster; returns its port.
fn start_private_cluster(dir: &Path) -> anyhow::Result<u16> {
    let initdb = find_pg_binary("initdb").context(INSTALL_HINT)?;
    let pg_ctl = find_pg_binary("pg_ctl").context(INSTALL_HINT)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if running_as_root() {
        run(std::process::Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir))
        .context(
            "running as root: PostgreSQL refuses to run as root and the `postgres` user is missing",
        )?;
    }
    if !dir.join("PG_VERSION").exists() {
        run(pg_command(&initdb).arg("-D").arg(dir).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]))
        .context("initdb failed")?;
    }
    let port_file = dir.join("scim-dev-port");
    let mut status = pg_command(&pg_ctl);
    status.arg("status").arg("-D").arg(dir);
    let running = status.output().is_ok_and(|out| out.status.success());
    if running {
        if let Some(port) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            return Ok(port);
        }
    }
    let port = free_port()?;
    std::fs::write(&port_file, port.to_string())?;
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=200",
        dir.display()
    );
    run(pg_command(&pg_ctl)
        .arg("-D")
        .arg(dir)
        .args(["-w", "-t", "60", "-l"])
        .arg(dir.join("server.log"))
        .args(["-o", &options, "start"]))
    .with_context(|| {
        format!(
            "starting the private cluster (log: {})",
            dir.join("server.log").display()
        )
    })?;
    Ok(port)
}

fn pg_command(binary: &Path) -> std::process::Command {
    if running_as_root() {
        let mut command = std::process::Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(binary);
        command
    } else {
        std::process::Command::new(binary)
    }
}

fn run(command: &mut std::process::Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `PATH` first, then the places distributions install server binaries.
fn find_pg_binary(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>());
    let mut versioned: Vec<PathBuf> = [
        "/usr/lib/postgresql",
        "/opt/homebrew/opt",
        "/usr/local/opt",
        "/usr",
    ]
    .iter()
    .filter_map(|root| std::fs::read_dir(root).ok())
    .flat_map(|entries| entries.flatten().map(|e| e.path()))
    .filter(|p| {
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        p.starts_with("/usr/lib/postgresql")
            || n.starts_with("postgresql")
            || n.starts_with("pgsql-")
    })
    .map(|p| p.join("bin"))
    .collect();
    // Newest major version first.
    versioned.sort_by_key(|dir| std::cmp::Reverse(natural_key(dir)));
    on_path
        .chain(versioned)
        .chain([PathBuf::from("/usr/local/pgsql/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn natural_key(path: &Path) -> Vec<u32> {
    path.to_string_lossy()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Drops database `name` from a thread of its own, so that it can be called from `Drop`
/// (the test harness cleans up its databases that way).
pub fn drop_database_blocking(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let admin_url = admin_url.to_owned();
    let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
    std::thread::spawn(move || -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let mut conn = AsyncPgConnection::establish(&admin_url).await?;
            conn.batch_execute(&statement).await?;
            Ok(())
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("dropping the database panicked"))?
}
