//! The command line: `ecr-tray [--autostart on|off] [--version]`, and the hidden
//! `--manpages DIR` the packaging uses to write `ecr-tray.1`.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, ValueEnum};

/// Tray icon for docker-credential-ecr: Amazon ECR credentials kept fresh, at a glance.
///
/// Keeps the token of every configured registry fresh in the background, shows each one's
/// state in its menu, and says in a notification when keys stop working. Without options it runs in the foreground until "Quit" is chosen in its menu. Registries
/// are bound with `docker-credential-ecr add`; the log is ecr-tray.log in the state directory
/// (DOCKER_CREDENTIAL_ECR_LOG sets its level; default info).
#[derive(Debug, Parser)]
#[command(name = "ecr-tray", version, disable_version_flag = true)]
pub struct Cli {
    /// Print the version and exit.
    #[arg(short = 'V', long)]
    pub version: bool,

    /// Start the tray at login, or stop doing so, then exit.
    #[arg(long, value_name = "on|off")]
    pub autostart: Option<Switch>,

    /// Write the man page (ecr-tray.1) into DIR and exit.
    #[arg(long, value_name = "DIR", hide = true)]
    pub manpages: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// `ecr-tray <version>`.
pub fn version_line() -> String {
    format!("ecr-tray {}", env!("CARGO_PKG_VERSION"))
}

/// Writes `ecr-tray.1` into `dir` and returns its path.
pub fn write_man_page(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("ecr-tray.1");
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    std::fs::write(&path, page)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn autostart_takes_on_or_off() {
        let cli = Cli::try_parse_from(["ecr-tray", "--autostart", "on"]).unwrap();
        assert_eq!(cli.autostart, Some(Switch::On));
        let cli = Cli::try_parse_from(["ecr-tray", "--autostart", "off"]).unwrap();
        assert_eq!(cli.autostart, Some(Switch::Off));
        assert!(Cli::try_parse_from(["ecr-tray", "--autostart", "maybe"]).is_err());
    }

    #[test]
    fn the_man_page_documents_the_options() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_man_page(dir.path()).unwrap();
        assert_eq!(path, dir.path().join("ecr-tray.1"));
        let page = std::fs::read_to_string(path).unwrap();
        assert!(page.contains(".TH ecr-tray 1"), "{page}");
        assert!(page.contains("autostart"), "{page}");
        assert!(
            !page.contains("manpages"),
            "hidden options stay out: {page}"
        );
    }

    #[test]
    fn the_version_line_names_the_program() {
        assert_eq!(
            version_line(),
            format!("ecr-tray {}", env!("CARGO_PKG_VERSION"))
        );
    }
}
