//! `agent`: the headless refresher, for servers and CI hosts without a desktop (the tray app
//! runs the same refresher). It keeps every registry's token renewed once half its life has
//! passed, so that no `get` waits on AWS, and logs each refresh and each incident (stderr and
//! the log file; under systemd, the journal). `--autostart on|off` installs or removes its
//! systemd user unit (a LaunchAgent on macOS, a Run-key entry on Windows).

use std::path::PathBuf;

use anyhow::Context;
use ecr_core::Paths;
use ecr_core::autostart::{Autostart, LoginItem};
use ecr_core::refresher::{Notice, Observer, Overview, RefresherHandle};

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Start the agent at login (on) or stop doing so (off), then exit.
    #[arg(long, value_enum, value_name = "on|off")]
    pub autostart: Option<Switch>,
    /// Whether the directories were named (--config-dir, --cache-dir or their environment
    /// variables): a login item would not see them.
    #[arg(skip)]
    pub named_dirs: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

pub fn run(paths: &Paths, args: &AgentArgs) -> anyhow::Result<()> {
    if let Some(switch) = args.autostart {
        if switch == Switch::On && args.named_dirs {
            anyhow::bail!(
                "a login item runs the agent without --config-dir, --cache-dir or their environment variables; on a node, run it as a system service (`installers/kubernetes/install-node.sh --agent` installs one)"
            );
        }
        return set_autostart(switch == Switch::On);
    }
    let refresher = RefresherHandle::spawn(paths.clone(), LogObserver)?;
    wait_for_termination()?;
    tracing::info!("stopping");
    refresher.shutdown();
    Ok(())
}

fn set_autostart(enabled: bool) -> anyhow::Result<()> {
    let autostart = Autostart::for_current_user()?;
    let program = current_program()?;
    autostart.set_enabled(LoginItem::Agent, enabled, &program)?;
    let location = autostart.location(LoginItem::Agent);
    if enabled {
        println!("the agent starts at login: {}", location.display());
    } else {
        println!("the agent no longer starts at login");
    }
    Ok(())
}

/// The program an autostart entry runs: the front program docker runs too, when installed.
fn current_program() -> anyhow::Result<PathBuf> {
    let full = std::env::current_exe().context("cannot find this program's path")?;
    Ok(crate::programs::front_beside(&full))
}

/// Blocks until SIGINT or SIGTERM (Ctrl-C on Windows).
fn wait_for_termination() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("cannot start the signal handler")?;
    runtime
        .block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let mut term = signal(SignalKind::terminate())?;
                tokio::select! {
                    result = tokio::signal::ctrl_c() => result,
                    _ = term.recv() => Ok(()),
                }
            }
            #[cfg(not(unix))]
            {
                tokio::signal::ctrl_c().await
            }
        })
        .context("cannot wait for a stop signal")
}

/// The agent's observer: incidents at `warn`, overviews at `debug`.
struct LogObserver;

impl Observer for LogObserver {
    fn overview(&self, overview: &Overview) {
        tracing::debug!(registries = overview.registries.len(), "overview");
    }

    fn notice(&self, notice: &Notice) {
        match notice {
            Notice::KeysRejected {
                key_set,
                hosts,
                detail,
            } => tracing::warn!(key_set, hosts = ?hosts, "keys rejected: {detail}"),
            Notice::RefreshFailed { host, detail } => {
                tracing::warn!(registry = %host, "cannot keep the token fresh: {detail}")
            }
            Notice::Recovered { hosts, key_set } => {
                tracing::info!(hosts = ?hosts, key_set = ?key_set, "recovered")
            }
            Notice::ClockSkew { detail } => tracing::warn!("clock skew: {detail}"),
        }
    }
}
