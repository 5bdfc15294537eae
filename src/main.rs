//! `zkserver`: a ZooKeeper-compatible coordination server.
//!
//! `zkserver --config FILE` runs a member from a `zoo.toml` (our format, see conf/zoo.toml)
//! or an unchanged ZooKeeper `zoo.cfg`; with no `--config` it runs standalone on an embedded
//! default (client port 2181, data in ./zkdata). The `log`/`snapshot` subcommands inspect a
//! data directory as ZooKeeper's LogFormatter/SnapshotFormatter do.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "zkserver",
    version,
    about = "A ZooKeeper-compatible coordination server (jute protocol, ZAB, znode tree).",
    long_about = "A ZooKeeper-compatible coordination server.\n\n\
Existing ZooKeeper clients (zkCli.sh, Curator, kazoo, go-zookeeper, the C client) connect to \
it unchanged on the client port (2181 by default).\n\n\
CONFIGURATION\n  --config FILE takes either our zoo.toml (every key documented in conf/zoo.toml) or \
an unchanged ZooKeeper zoo.cfg (tickTime, initLimit, syncLimit, dataDir, dataLogDir, clientPort, \
clientPortAddress, maxClientCnxns, min/maxSessionTimeout, 4lw.commands.whitelist, server.N lines, \
autopurge.*, snapCount, forceSync, jute.maxbuffer, extendedTypesEnabled, ...). Unknown keys are \
logged, not fatal. In an ensemble, dataDir/myid holds this member's id, as with ZooKeeper.\n\
  Without --config the server runs standalone on 0.0.0.0:2181 with its data in ./zkdata.\n\n\
LOGGING\n  The level comes from RUST_LOG if set (e.g. RUST_LOG=debug), else from the config's \
log level (default info).\n\n\
FOUR-LETTER WORDS\n  ruok, srvr, stat, mntr, conf, cons, crst, envi, srst, wchs, wchc, wchp, dump, dirs, \
isro answer on the client port as ZooKeeper's do, when allowed by 4lw.commands.whitelist \
(default: srvr only)."
)]
struct Cli {
    /// A zoo.toml or zoo.cfg file. Without it, the embedded standalone default is used.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect transaction log segments (list, verify, dump) in a data log directory.
    Log {
        #[command(subcommand)]
        action: Inspect,
    },
    /// Inspect snapshots (list, verify, dump) in a data directory.
    Snapshot {
        #[command(subcommand)]
        action: Inspect,
    },
}

#[derive(Subcommand)]
enum Inspect {
    /// List the files with their first zxid and size.
    List { dir: PathBuf },
    /// Check every record's checksum and order; exit non-zero on corruption.
    Verify { dir: PathBuf },
    /// Print every record (log) or every znode (snapshot) as text.
    Dump { path: PathBuf },
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(cmd) = cli.command {
        init_logging("warn");
        let result = match cmd {
            Command::Log { action } => server::inspect::log(inspect_action(action)),
            Command::Snapshot { action } => server::inspect::snapshot(inspect_action(action)),
        };
        return match result {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("zkserver: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let (config, warnings) = match &cli.config {
        Some(path) => match server::config::load(path) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("zkserver: bad configuration {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => (server::Config::default_standalone(), Vec::new()),
    };
    init_logging(&config.log_level);
    for w in warnings {
        tracing::warn!("config: {w}");
    }
    match server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("zkserver: {e}");
            ExitCode::FAILURE
        }
    }
}

fn inspect_action(a: Inspect) -> server::inspect::Action {
    match a {
        Inspect::List { dir } => server::inspect::Action::List(dir),
        Inspect::Verify { dir } => server::inspect::Action::Verify(dir),
        Inspect::Dump { path } => server::inspect::Action::Dump(path),
    }
}
