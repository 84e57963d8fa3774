//! What the menu's actions do outside the tray: copy a registry host to the clipboard, open
//! the logs folder, open a terminal running `docker-credential-ecr add`, and switch "Start at
//! login" ([`ecr_core::autostart`]). Behind the [`Desktop`] trait so the app's logic is tested
//! with a fake; [`SystemDesktop`] is the real one.
//!
//! Nothing here waits on a child process: programs are started and reaped by a thread of
//! their own. Clipboard writes are local (X11 selection ownership, no network), so they run
//! on the UI thread; the [`arboard::Clipboard`] is kept alive afterwards because on X11 the
//! copied text is served by the process that owns the selection.

#[cfg(not(any(target_os = "macos", windows)))]
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

use ecr_core::autostart::{Autostart, AutostartError, LoginItem};

/// The credential helper's program name.
pub const HELPER: &str = "docker-credential-ecr";

/// Why a menu action could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("the clipboard is not available: {0}")]
    Clipboard(#[from] arboard::Error),
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cannot create {}: {source}", .path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no terminal program found (set $TERMINAL)")]
    NoTerminal,
    #[error(transparent)]
    Autostart(#[from] AutostartError),
    #[error("cannot find this program's path: {0}")]
    CurrentExe(std::io::Error),
}

/// The side effects of the menu's actions.
pub trait Desktop {
    fn copy_text(&mut self, text: &str) -> Result<(), ActionError>;
    fn open_folder(&mut self, dir: &Path) -> Result<(), ActionError>;
    /// Opens a terminal that asks for a registry and runs `docker-credential-ecr add` on it.
    fn open_add_terminal(&mut self) -> Result<(), ActionError>;
    /// The credential helper as the user should run it (its path when it sits beside us).
    fn helper_command(&self) -> String;
    fn start_at_login(&self) -> Result<bool, ActionError>;
    fn set_start_at_login(&mut self, enabled: bool) -> Result<(), ActionError>;
}

/// The desktop of the user running this process.
pub struct SystemDesktop {
    clipboard: Option<arboard::Clipboard>,
    /// `None` without a home directory.
    autostart: Option<Autostart>,
}

impl SystemDesktop {
    pub fn new() -> SystemDesktop {
        SystemDesktop {
            clipboard: None,
            autostart: Autostart::for_current_user().ok(),
        }
    }

    fn autostart(&self) -> Result<&Autostart, ActionError> {
        self.autostart
            .as_ref()
            .ok_or(ActionError::Autostart(AutostartError::NoHomeDirectory))
    }
}

impl Default for SystemDesktop {
    fn default() -> Self {
        SystemDesktop::new()
    }
}

impl Desktop for SystemDesktop {
    fn copy_text(&mut self, text: &str) -> Result<(), ActionError> {
        let clipboard = match &mut self.clipboard {
            Some(clipboard) => clipboard,
            slot => slot.insert(arboard::Clipboard::new()?),
        };
        clipboard.set_text(text)?;
        Ok(())
    }

    fn open_folder(&mut self, dir: &Path) -> Result<(), ActionError> {
        std::fs::create_dir_all(dir).map_err(|source| ActionError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut command = Command::new(FOLDER_OPENER);
        command.arg(dir);
        spawn_detached(command)
    }

    fn open_add_terminal(&mut self) -> Result<(), ActionError> {
        spawn_detached(add_terminal_command(&helper_program())?)
    }

    fn helper_command(&self) -> String {
        helper_program().to_string_lossy().into_owned()
    }

    fn start_at_login(&self) -> Result<bool, ActionError> {
        Ok(self.autostart()?.is_enabled(LoginItem::Tray)?)
    }

    fn set_start_at_login(&mut self, enabled: bool) -> Result<(), ActionError> {
        let program = std::env::current_exe().map_err(ActionError::CurrentExe)?;
        Ok(self
            .autostart()?
            .set_enabled(LoginItem::Tray, enabled, &program)?)
    }
}

#[cfg(target_os = "macos")]
const FOLDER_OPENER: &str = "open";
#[cfg(windows)]
const FOLDER_OPENER: &str = "explorer";
#[cfg(not(any(target_os = "macos", windows)))]
const FOLDER_OPENER: &str = "xdg-open";

/// Starts `command` without a terminal of ours, and reaps it when it ends.
fn spawn_detached(mut command: Command) -> Result<(), ActionError> {
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = command
        .spawn()
        .map_err(|source| ActionError::Spawn { program, source })?;
    let reaper = thread::Builder::new()
        .name("reaper".into())
        .spawn(move || child.wait());
    if let Err(e) = reaper {
        tracing::warn!("cannot start a thread to wait for a child process: {e}");
    }
    Ok(())
}

/// The credential helper beside this program if it is there (an installed pair, or a build
/// directory), else its name, found on PATH.
pub fn helper_program() -> PathBuf {
    let name = format!("{HELPER}{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(&name)))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The POSIX shell script a terminal runs for "Add a registry…": it asks for the registry,
/// runs `"$1" add REGISTRY` (which asks for the keys), and keeps the window open until Enter.
#[cfg(not(windows))]
pub const ADD_SCRIPT: &str = r#"printf '%s\n' 'Add an ECR registry to docker-credential-ecr.'
printf '%s' 'Registry (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com): '
read -r registry
if [ -n "$registry" ]; then "$1" add "$registry"; fi
printf '\n%s' 'Press Enter to close this window. '
read -r _"#;

/// The command that opens a terminal running [`ADD_SCRIPT`] with `helper`.
#[cfg(not(any(target_os = "macos", windows)))]
fn add_terminal_command(helper: &Path) -> Result<Command, ActionError> {
    let env_terminal = std::env::var_os("TERMINAL").filter(|t| !t.is_empty());
    let (terminal, flag) =
        find_terminal(env_terminal, std::env::var_os("PATH")).ok_or(ActionError::NoTerminal)?;
    let mut command = Command::new(terminal);
    command.args(terminal_args(flag, helper));
    Ok(command)
}

/// The first terminal program found: `$TERMINAL`, then Debian's `x-terminal-emulator`
/// alternative, then common ones. Each with the flag that makes it run a command.
#[cfg(not(any(target_os = "macos", windows)))]
fn find_terminal(
    env_terminal: Option<OsString>,
    path: Option<OsString>,
) -> Option<(PathBuf, &'static str)> {
    const KNOWN: [(&str, &str); 6] = [
        ("x-terminal-emulator", "-e"),
        ("gnome-terminal", "--"),
        ("konsole", "-e"),
        ("xfce4-terminal", "-x"),
        ("kitty", "--"),
        ("xterm", "-e"),
    ];
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let find = |name: &Path| -> Option<PathBuf> {
        if name.components().count() > 1 {
            return is_executable(name).then(|| name.to_path_buf());
        }
        dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
    };
    if let Some(terminal) = env_terminal {
        let name = PathBuf::from(&terminal);
        let flag = name
            .file_name()
            .and_then(|n| KNOWN.iter().find(|(k, _)| n == *k))
            .map_or("-e", |(_, flag)| flag);
        if let Some(found) = find(&name) {
            return Some((found, flag));
        }
    }
    KNOWN
        .iter()
        .find_map(|(name, flag)| Some((find(Path::new(name))?, *flag)))
}

#[cfg(not(any(target_os = "macos", windows)))]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `<flag> sh -c ADD_SCRIPT sh <helper>`.
#[cfg(not(any(target_os = "macos", windows)))]
fn terminal_args(flag: &str, helper: &Path) -> Vec<OsString> {
    vec![
        flag.into(),
        "sh".into(),
        "-c".into(),
        ADD_SCRIPT.into(),
        "sh".into(),
        helper.as_os_str().to_owned(),
    ]
}

#[cfg(target_os = "macos")]
fn add_terminal_command(helper: &Path) -> Result<Command, ActionError> {
    let shell_line = format!(
        "sh -c {} sh {}",
        shell_quote(ADD_SCRIPT),
        shell_quote(&helper.to_string_lossy())
    );
    let mut command = Command::new("osascript");
    command
        .arg("-e")
        .arg("tell application \"Terminal\"")
        .arg("-e")
        .arg("activate")
        .arg("-e")
        .arg(format!("do script {}", applescript_string(&shell_line)))
        .arg("-e")
        .arg("end tell");
    Ok(command)
}

/// `text` as one POSIX shell word.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `text` as an AppleScript string literal.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn applescript_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', r"\\").replace('"', "\\\""))
}

#[cfg(windows)]
fn add_terminal_command(helper: &Path) -> Result<Command, ActionError> {
    use std::os::windows::process::CommandExt;
    const CREATE_NEW_CONSOLE: u32 = 0x0000_0010;
    let helper = helper.to_string_lossy().replace('\'', "''");
    let script = format!(
        "Write-Host 'Add an ECR registry to docker-credential-ecr.'; \
         $r = Read-Host 'Registry (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com)'; \
         if ($r) {{ & '{helper}' add $r }}"
    );
    let mut command = Command::new("powershell");
    command
        .args(["-NoLogo", "-NoExit", "-Command", &script])
        .creation_flags(CREATE_NEW_CONSOLE);
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the terminal's command line (without the terminal) with a fake helper that records
    /// its arguments; returns what the script printed and the helper's arguments, if it ran.
    #[cfg(not(any(target_os = "macos", windows)))]
    fn run_add_script(answers: &[u8]) -> (String, Option<String>) {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake-helper");
        let out = dir.path().join("args");
        std::fs::write(
            &fake,
            format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", out.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let args = terminal_args("-e", &fake);
        assert_eq!(args[0], "-e");
        let mut child = Command::new(&args[1])
            .args(&args[2..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(answers).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        let shown = String::from_utf8_lossy(&output.stdout).into_owned();
        (shown, std::fs::read_to_string(&out).ok())
    }

    #[cfg(not(any(target_os = "macos", windows)))]
    #[test]
    fn the_add_script_asks_for_a_registry_and_runs_add_on_it() {
        let (shown, args) = run_add_script(b"123456789012.dkr.ecr.us-east-1.amazonaws.com\n\n");
        assert_eq!(
            args.as_deref(),
            Some("add\n123456789012.dkr.ecr.us-east-1.amazonaws.com\n")
        );
        assert!(shown.contains("Registry (e.g."), "{shown}");
        assert!(shown.contains("Press Enter to close"), "{shown}");
    }

    #[cfg(not(any(target_os = "macos", windows)))]
    #[test]
    fn an_empty_answer_runs_nothing() {
        let (shown, args) = run_add_script(b"\n\n");
        assert_eq!(args, None);
        assert!(shown.contains("Press Enter to close"), "{shown}");
    }

    #[cfg(not(any(target_os = "macos", windows)))]
    #[test]
    fn terminals_are_found_on_path_with_their_flags() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let exe = |name: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p
        };
        let path = Some(dir.path().as_os_str().to_owned());
        assert_eq!(find_terminal(None, path.clone()), None);

        let xterm = exe("xterm");
        assert_eq!(
            find_terminal(None, path.clone()),
            Some((xterm.clone(), "-e"))
        );
        let gnome = exe("gnome-terminal");
        assert_eq!(find_terminal(None, path.clone()), Some((gnome, "--")));
        let x = exe("x-terminal-emulator");
        assert_eq!(find_terminal(None, path.clone()), Some((x, "-e")));

        // $TERMINAL wins, by name or by path; a missing one is skipped.
        let xfce = exe("xfce4-terminal");
        assert_eq!(
            find_terminal(Some("xfce4-terminal".into()), path.clone()),
            Some((xfce.clone(), "-x"))
        );
        assert_eq!(
            find_terminal(Some(xterm.clone().into()), None),
            Some((xterm, "-e"))
        );
        let x = dir.path().join("x-terminal-emulator");
        assert_eq!(
            find_terminal(Some("no-such-terminal".into()), path),
            Some((x, "-e"))
        );
        // Not executable: not a terminal.
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(find_terminal(Some(plain.into()), None), None);
    }

    #[test]
    fn quoting_for_the_macos_terminal() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(
            applescript_string(r#"say "hi" \ bye"#),
            r#""say \"hi\" \\ bye""#
        );
    }
}
