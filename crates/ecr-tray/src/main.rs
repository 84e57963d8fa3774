//! `ecr-tray`: the desktop tray app of docker-credential-ecr.
//!
//! It runs [`ecr_core::refresher`] (the same background refresher as
//! `docker-credential-ecr agent`) and shows its state: one icon for the most urgent state of
//! all registries, a submenu per registry with its countdown, and a notification per incident
//! (keys rejected, refresh failed, recovered, clock skew). This binary is not a library.
//!
//! Modules, from the edge inwards: [`cli`] (the command line), [`runner`] (the UI thread and
//! its event loop), [`app`] (the logic, toolkit-free), [`model`] and [`notices`] (pure texts
//! and states), [`ui`] (the only module that touches `tray-icon`), [`actions`] (clipboard,
//! folders, terminals, start at login), [`notifier`] (notifications off the UI thread),
//! [`icons`] and [`logging`].
//!
//! Platforms: Linux is built and tested (the `ksni` StatusNotifierItem backend by default,
//! `--no-default-features --features appindicator` for libappindicator). The macOS and
//! Windows paths (a `tao` event loop on the main thread) are written but not built or tested
//! in this project's CI.

// A tray app has no console window on Windows (release builds; debug ones keep it for output).
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

mod actions;
mod app;
mod cli;
mod icons;
mod logging;
mod model;
mod notices;
mod notifier;
mod runner;
mod ui;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use clap::error::ErrorKind;
use ecr_core::Paths;
use ecr_core::autostart::{Autostart, LoginItem};

use crate::cli::{Cli, Switch};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let line = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let line = line.strip_prefix("error: ").unwrap_or(line);
            eprintln!("ecr-tray: {line} (`ecr-tray --help` lists the options)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = one_line(&e);
            tracing::error!("{line}");
            eprintln!("ecr-tray: {line}");
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the line already
/// holds (many errors repeat their source in their own message).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.version {
        println!("{}", cli::version_line());
        return Ok(());
    }
    if let Some(dir) = cli.manpages {
        let path = cli::write_man_page(&dir)
            .with_context(|| format!("cannot write the man page into {}", dir.display()))?;
        println!("{}", path.display());
        return Ok(());
    }
    if let Some(switch) = cli.autostart {
        return set_autostart(switch == Switch::On);
    }
    let paths =
        Paths::for_current_user().context("cannot find the home directory (is HOME set?)")?;
    logging::init(paths.state_dir());
    tracing::info!("{} starting", cli::version_line());
    runner::run(&paths)
}

fn set_autostart(enabled: bool) -> anyhow::Result<()> {
    let autostart = Autostart::for_current_user()?;
    let program = std::env::current_exe().context("cannot find this program's path")?;
    autostart.set_enabled(LoginItem::Tray, enabled, &program)?;
    let location = autostart.location(LoginItem::Tray);
    if enabled {
        println!("ecr-tray starts at login ({})", location.display());
    } else {
        println!(
            "ecr-tray no longer starts at login (removed {})",
            location.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("D-Bus connection error: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn errors_print_on_one_line_without_repeats() {
        let io = std::io::Error::other("no such file");
        let error = anyhow::Error::new(Repeats(io)).context("cannot show the tray icon");
        assert_eq!(
            one_line(&error),
            "cannot show the tray icon: D-Bus connection error: no such file"
        );
        let error = anyhow::anyhow!("plain").context("outer");
        assert_eq!(one_line(&error), "outer: plain");
    }
}
