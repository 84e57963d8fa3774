//! Start at login: the tray app (`ecr-tray`) and the headless agent
//! (`docker-credential-ecr agent`) as login items of the current user, one mechanism per OS.
//!
//! # Mechanisms
//!
//! - **Linux** (and other XDG desktops): the tray gets an XDG autostart entry,
//!   `$XDG_CONFIG_HOME/autostart/ecr-tray.desktop`; the agent a systemd user unit,
//!   `$XDG_CONFIG_HOME/systemd/user/docker-credential-ecr-agent.service`, enabled with the
//!   `default.target.wants/` link `systemctl --user enable` would make. After enabling or
//!   disabling the agent, `systemctl --user daemon-reload` and `start`/`stop` are run as a best
//!   effort: a session without a user manager (containers, CI) still gets the files, and the
//!   agent starts at the next login.
//! - **macOS**: a LaunchAgent plist per item in `~/Library/LaunchAgents/`; the agent's is loaded
//!   (best effort) so it runs at once, the tray's only at the next login (loading it would start
//!   a second tray next to the one that asked).
//! - **Windows**: a value in `HKCU\Software\Microsoft\Windows\CurrentVersion\Run`, set, queried
//!   and removed with `reg.exe`.
//!
//! The texts of these files and commands are plain functions compiled on every OS
//! ([`desktop_entry`], [`systemd_user_unit`], [`launch_agent_plist`], [`run_key_command`]) so
//! each format's quoting is unit-tested everywhere; only the few calls into the OS are behind
//! `cfg(target_os)`.
//!
//! # What this module must never do
//!
//! Leave a half-written file: every file is replaced atomically through
//! [`private_fs`](crate::private_fs), after the program path has been validated, so a failure
//! leaves the previous file as it was. Disabling removes exactly what enabling made.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::private_fs;

/// Something started at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginItem {
    /// The tray app, `ecr-tray`.
    Tray,
    /// The headless agent that keeps tokens fresh, `docker-credential-ecr agent`.
    Agent,
}

impl LoginItem {
    /// Every login item.
    pub const ALL: [LoginItem; 2] = [LoginItem::Tray, LoginItem::Agent];

    /// The arguments the program is started with.
    pub fn args(self) -> &'static [&'static str] {
        match self {
            LoginItem::Tray => &[],
            LoginItem::Agent => &["agent"],
        }
    }

    /// A one-line description, used as the desktop entry's comment and the unit's description.
    pub fn description(self) -> &'static str {
        match self {
            LoginItem::Tray => "Shows and refreshes Amazon ECR credentials for docker",
            LoginItem::Agent => "Keeps Amazon ECR credentials for docker fresh",
        }
    }

    /// The launchd label (macOS) of this item.
    pub fn launchd_label(self) -> &'static str {
        match self {
            LoginItem::Tray => "io.github.docker-credential-ecr.tray",
            LoginItem::Agent => "io.github.docker-credential-ecr.agent",
        }
    }

    /// The value's name under the Windows `Run` key.
    pub fn run_value_name(self) -> &'static str {
        match self {
            LoginItem::Tray => "ecr-tray",
            LoginItem::Agent => "docker-credential-ecr-agent",
        }
    }
}

/// The systemd user unit of the agent.
pub const AGENT_UNIT: &str = "docker-credential-ecr-agent.service";
/// The XDG autostart entry of the tray.
pub const TRAY_DESKTOP_FILE: &str = "ecr-tray.desktop";
/// The Windows registry key holding the per-user login items.
pub const RUN_KEY: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";

/// Why a login item could not be read, enabled or disabled.
#[derive(Debug, thiserror::Error)]
pub enum AutostartError {
    #[error("cannot find the current user's home directory")]
    NoHomeDirectory,
    #[error("cannot start {} at login: its path must be absolute", .program.display())]
    RelativeProgram { program: PathBuf },
    #[error("cannot start {} at login: {reason}", .program.display())]
    UnsupportedProgramPath {
        program: PathBuf,
        reason: &'static str,
    },
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
}

impl AutostartError {
    /// A `map_err` adapter naming what was being done to which file.
    fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> AutostartError {
        let path = path.to_path_buf();
        move |source| AutostartError::Io {
            action,
            path,
            source,
        }
    }
}

/// The current user's login items.
#[derive(Debug, Clone)]
pub struct Autostart {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    /// XDG autostart and systemd user units under `config_home`; `service_manager` says whether
    /// to tell the user's systemd about changes.
    Xdg {
        config_home: PathBuf,
        service_manager: bool,
    },
    /// `~/Library`: plists in `LaunchAgents/`, the agent's log in `Logs/`.
    #[cfg(target_os = "macos")]
    LaunchAgents { library: PathBuf },
    /// The `Run` key of the current user.
    #[cfg(windows)]
    RunKey,
}

impl Autostart {
    /// The login items of the user running this process, in the OS's usual place.
    pub fn for_current_user() -> Result<Autostart, AutostartError> {
        #[cfg(windows)]
        {
            Ok(Autostart {
                backend: Backend::RunKey,
            })
        }
        #[cfg(not(windows))]
        {
            let dirs = directories::BaseDirs::new().ok_or(AutostartError::NoHomeDirectory)?;
            #[cfg(target_os = "macos")]
            let backend = Backend::LaunchAgents {
                library: dirs.home_dir().join("Library"),
            };
            #[cfg(not(target_os = "macos"))]
            // config_dir() is $XDG_CONFIG_HOME when that is absolute, else ~/.config.
            let backend = Backend::Xdg {
                config_home: dirs.config_dir().to_path_buf(),
                service_manager: true,
            };
            Ok(Autostart { backend })
        }
    }

    /// XDG autostart entries and systemd user units under `dir` (an `XDG_CONFIG_HOME`), on any
    /// OS, without ever calling `systemctl`: for tests.
    pub fn with_config_home(dir: impl Into<PathBuf>) -> Autostart {
        Autostart {
            backend: Backend::Xdg {
                config_home: dir.into(),
                service_manager: false,
            },
        }
    }

    /// The file that starts `item` at login (on Windows, the registry value, written as a path).
    pub fn location(&self, item: LoginItem) -> PathBuf {
        match &self.backend {
            Backend::Xdg { config_home, .. } => match item {
                LoginItem::Tray => config_home.join("autostart").join(TRAY_DESKTOP_FILE),
                LoginItem::Agent => systemd_user_dir(config_home).join(AGENT_UNIT),
            },
            #[cfg(target_os = "macos")]
            Backend::LaunchAgents { library } => library
                .join("LaunchAgents")
                .join(format!("{}.plist", item.launchd_label())),
            #[cfg(windows)]
            Backend::RunKey => Path::new(RUN_KEY).join(item.run_value_name()),
        }
    }

    /// Whether `item` starts at login.
    pub fn is_enabled(&self, item: LoginItem) -> Result<bool, AutostartError> {
        match &self.backend {
            Backend::Xdg { config_home, .. } => match item {
                LoginItem::Tray => {
                    let path = self.location(item);
                    match std::fs::read_to_string(&path) {
                        Ok(text) => Ok(desktop_entry_is_enabled(&text)),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                        Err(e) => Err(AutostartError::io("read", &path)(e)),
                    }
                }
                // Enabled by us or by `systemctl --user enable` (which may point at the packaged
                // unit in /usr/lib/systemd/user): the link must lead to a unit file.
                LoginItem::Agent => Ok(agent_wants_link(config_home).exists()),
            },
            #[cfg(target_os = "macos")]
            Backend::LaunchAgents { .. } => Ok(self.location(item).is_file()),
            #[cfg(windows)]
            Backend::RunKey => windows::is_set(item),
        }
    }

    /// Starts `item` at login from `program` (an absolute path), or stops doing so. Enabling an
    /// enabled item rewrites it (so a moved program is followed); disabling a disabled one is
    /// not an error.
    pub fn set_enabled(
        &self,
        item: LoginItem,
        enabled: bool,
        program: &Path,
    ) -> Result<(), AutostartError> {
        let program = if enabled {
            Some(program_str(program)?)
        } else {
            None
        };
        match &self.backend {
            Backend::Xdg {
                config_home,
                service_manager,
            } => {
                let xdg = Xdg {
                    config_home,
                    service_manager: *service_manager,
                };
                match (item, program) {
                    (LoginItem::Tray, Some(program)) => {
                        write_file(&self.location(item), &desktop_entry(program))
                    }
                    (LoginItem::Tray, None) => remove_file(&self.location(item)),
                    (LoginItem::Agent, Some(program)) => xdg.enable_agent(program),
                    (LoginItem::Agent, None) => xdg.disable_agent(),
                }
            }
            #[cfg(target_os = "macos")]
            Backend::LaunchAgents { library } => {
                let plist = self.location(item);
                match program {
                    Some(program) => {
                        let log = library.join("Logs").join("docker-credential-ecr-agent.log");
                        let log = log.to_string_lossy();
                        write_file(&plist, &launch_agent_plist(item, program, &log))?;
                        if item == LoginItem::Agent {
                            best_effort(Command::new("launchctl").arg("unload").arg(&plist));
                            best_effort(Command::new("launchctl").args(["load", "-w"]).arg(&plist));
                        }
                        Ok(())
                    }
                    None => {
                        if item == LoginItem::Agent && plist.is_file() {
                            best_effort(
                                Command::new("launchctl").args(["unload", "-w"]).arg(&plist),
                            );
                        }
                        remove_file(&plist)
                    }
                }
            }
            #[cfg(windows)]
            Backend::RunKey => match program {
                Some(program) => windows::set(item, &run_key_command(item, program)),
                None => windows::remove(item),
            },
        }
    }
}

/// The Linux side: files under an `XDG_CONFIG_HOME`, then the user's systemd.
struct Xdg<'a> {
    config_home: &'a Path,
    service_manager: bool,
}

impl Xdg<'_> {
    fn enable_agent(&self, program: &str) -> Result<(), AutostartError> {
        // systemd refuses such an ExecStart ("Executable name contains special characters").
        if program.contains(['"', '\'', '\\']) {
            return Err(AutostartError::UnsupportedProgramPath {
                program: PathBuf::from(program),
                reason: "systemd cannot run a program whose path holds a quote or a backslash",
            });
        }
        let unit = systemd_user_dir(self.config_home).join(AGENT_UNIT);
        write_file(&unit, &systemd_user_unit(program))?;
        replace_symlink(&unit, &agent_wants_link(self.config_home))?;
        if self.service_manager {
            systemctl(&["daemon-reload"]);
            // --no-block: queue the start and return, never wait on the agent.
            systemctl(&["--no-block", "start", AGENT_UNIT]);
        }
        Ok(())
    }

    fn disable_agent(&self) -> Result<(), AutostartError> {
        if self.service_manager {
            systemctl(&["--no-block", "stop", AGENT_UNIT]);
        }
        remove_file(&agent_wants_link(self.config_home))?;
        remove_file(&systemd_user_dir(self.config_home).join(AGENT_UNIT))?;
        if self.service_manager {
            systemctl(&["daemon-reload"]);
        }
        Ok(())
    }
}

fn systemd_user_dir(config_home: &Path) -> PathBuf {
    config_home.join("systemd").join("user")
}

/// The link `systemctl --user enable` makes for the agent's `WantedBy=default.target`.
fn agent_wants_link(config_home: &Path) -> PathBuf {
    systemd_user_dir(config_home)
        .join("default.target.wants")
        .join(AGENT_UNIT)
}

/// `systemctl --user ARGS`, whose failure (no user manager, no systemctl) is only logged.
fn systemctl(args: &[&str]) {
    best_effort(Command::new("systemctl").arg("--user").args(args));
}

/// Runs `command` and logs, never fails: for telling a service manager that may not be there.
fn best_effort(command: &mut Command) {
    let line = command_line(command);
    match command.output() {
        Ok(out) if out.status.success() => tracing::debug!(command = %line, "done"),
        Ok(out) => tracing::info!(
            command = %line,
            status = %out.status,
            stderr = %String::from_utf8_lossy(&out.stderr).trim(),
            "service manager not updated; the change takes effect at the next login"
        ),
        Err(e) => tracing::info!(
            command = %line,
            error = %e,
            "service manager not reachable; the change takes effect at the next login"
        ),
    }
}

fn command_line(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// The program as text every format can carry, or why not.
fn program_str(program: &Path) -> Result<&str, AutostartError> {
    if !program.is_absolute() {
        return Err(AutostartError::RelativeProgram {
            program: program.to_path_buf(),
        });
    }
    let unsupported = |reason| AutostartError::UnsupportedProgramPath {
        program: program.to_path_buf(),
        reason,
    };
    let text = program
        .to_str()
        .ok_or_else(|| unsupported("its path is not UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(unsupported("its path contains a control character"));
    }
    Ok(text)
}

/// Replaces `path` atomically with `text` (0644: none of these files hold secrets), creating
/// its directory if needed.
fn write_file(path: &Path, text: &str) -> Result<(), AutostartError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private_fs::create_private_dir(dir).map_err(AutostartError::io("create", dir))?;
    private_fs::write_atomically_in(dir, path, text.as_bytes(), Some(0o644))
        .map_err(AutostartError::io("write", path))
}

fn remove_file(path: &Path) -> Result<(), AutostartError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(AutostartError::io("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Points `link` at `target` (absolute, as systemctl does), replacing what was there by a
/// rename so the link is never missing half-way.
fn replace_symlink(target: &Path, link: &Path) -> Result<(), AutostartError> {
    if std::fs::read_link(link).is_ok_and(|current| current == target) {
        return Ok(());
    }
    let dir = link.parent().unwrap_or(Path::new("."));
    private_fs::create_private_dir(dir).map_err(AutostartError::io("create", dir))?;
    let tmp = dir.join(format!(".tmp-{}-{AGENT_UNIT}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    symlink(target, &tmp).map_err(AutostartError::io("create the link", &tmp))?;
    std::fs::rename(&tmp, link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        AutostartError::io("create the link", link)(e)
    })
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "systemd user units need a Unix system",
    ))
}

// ----- The texts: plain functions, compiled and tested on every OS. -----

/// The XDG autostart entry starting the tray from `program` (an absolute path).
pub fn desktop_entry(program: &str) -> String {
    let item = LoginItem::Tray;
    let mut exec = desktop_exec_arg(program);
    for arg in item.args() {
        exec.push(' ');
        exec.push_str(&desktop_exec_arg(arg));
    }
    format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=ECR Tray\n\
         Comment={}\n\
         Exec={}\n\
         Icon=ecr-tray\n\
         Terminal=false\n\
         Categories=Development;\n\
         X-GNOME-Autostart-enabled=true\n",
        item.description(),
        desktop_string_value(&exec),
    )
}

/// Whether an autostart entry's text starts something: not `Hidden=true` and not
/// `X-GNOME-Autostart-enabled=false` (how desktops switch an entry off without deleting it).
fn desktop_entry_is_enabled(text: &str) -> bool {
    !text.lines().any(|line| {
        let line = line.trim();
        let value = |key: &str| {
            line.strip_prefix(key)
                .and_then(|rest| rest.trim_start().strip_prefix('='))
                .map(str::trim)
        };
        value("Hidden") == Some("true") || value("X-GNOME-Autostart-enabled") == Some("false")
    })
}

/// One argument of a desktop entry's `Exec` key, quoted as the Desktop Entry Specification
/// asks: in double quotes when it holds a reserved character, with `"`, `` ` ``, `$` and `\`
/// escaped inside them; `%` doubled (it starts field codes).
fn desktop_exec_arg(arg: &str) -> String {
    const RESERVED: &[char] = &[
        ' ', '\t', '\n', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '(',
        ')', '`',
    ];
    let arg = arg.replace('%', "%%");
    if !arg.contains(RESERVED) {
        return arg;
    }
    let mut quoted = String::from("\"");
    for c in arg.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// A desktop entry string value: the key file's own escaping (a backslash doubled) applies on
/// top of the `Exec` quoting.
fn desktop_string_value(value: &str) -> String {
    value.replace('\\', "\\\\")
}

/// The systemd user unit running the agent from `program` (an absolute path).
pub fn systemd_user_unit(program: &str) -> String {
    let item = LoginItem::Agent;
    let mut exec = systemd_exec_word(program, true);
    for arg in item.args() {
        exec.push(' ');
        exec.push_str(&systemd_exec_word(arg, false));
    }
    format!(
        "[Unit]\n\
         Description={}\n\
         Documentation=man:docker-credential-ecr(1)\n\
         \n\
         [Service]\n\
         Type=exec\n\
         ExecStart={exec}\n\
         Restart=on-failure\n\
         RestartSec=30\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        item.description(),
    )
}

/// One word of a systemd `ExecStart=`: `%` doubled (specifiers), `$` doubled in arguments (not
/// in the program, where systemd 252 does not expand variables), and in double quotes with C
/// escapes when it holds white space, a quote or a backslash.
fn systemd_exec_word(word: &str, is_program: bool) -> String {
    let mut arg = word.replace('%', "%%");
    if !is_program {
        arg = arg.replace('$', "$$");
    }
    if !arg.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';')) {
        return arg;
    }
    let mut quoted = String::from("\"");
    for c in arg.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// The LaunchAgent plist of `item` run from `program`; the agent also logs its stderr to
/// `agent_log` and is restarted when it fails.
pub fn launch_agent_plist(item: LoginItem, program: &str, agent_log: &str) -> String {
    let mut plist = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n\
         <dict>\n",
    );
    let _ = writeln!(
        plist,
        "\t<key>Label</key>\n\t<string>{}</string>",
        item.launchd_label()
    );
    plist.push_str("\t<key>ProgramArguments</key>\n\t<array>\n");
    for arg in std::iter::once(program).chain(item.args().iter().copied()) {
        let _ = writeln!(plist, "\t\t<string>{}</string>", xml_text(arg));
    }
    plist.push_str("\t</array>\n\t<key>RunAtLoad</key>\n\t<true/>\n");
    match item {
        LoginItem::Tray => plist.push_str(
            "\t<key>LimitLoadToSessionType</key>\n\t<string>Aqua</string>\n\
             \t<key>ProcessType</key>\n\t<string>Interactive</string>\n",
        ),
        LoginItem::Agent => {
            // Restarted when it fails, like the systemd unit's Restart=on-failure.
            plist.push_str(
                "\t<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n\t</dict>\n\
                 \t<key>ThrottleInterval</key>\n\t<integer>30</integer>\n\
                 \t<key>ProcessType</key>\n\t<string>Background</string>\n",
            );
            let _ = writeln!(
                plist,
                "\t<key>StandardErrorPath</key>\n\t<string>{}</string>",
                xml_text(agent_log)
            );
        }
    }
    plist.push_str("</dict>\n</plist>\n");
    plist
}

fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The command line stored under the `Run` key for `item`: the program in double quotes (a
/// Windows path cannot contain one), then the arguments.
pub fn run_key_command(item: LoginItem, program: &str) -> String {
    let mut line = format!("\"{program}\"");
    for arg in item.args() {
        line.push(' ');
        line.push_str(arg);
    }
    line
}

#[cfg(windows)]
mod windows {
    //! The `Run` key through `reg.exe`.

    use std::process::Command;

    use super::{AutostartError, LoginItem, RUN_KEY, command_line};

    pub(super) fn is_set(item: LoginItem) -> Result<bool, AutostartError> {
        // reg query exits 1 when the value does not exist.
        let mut command = Command::new("reg.exe");
        command.args(["query", RUN_KEY, "/v", item.run_value_name()]);
        let out = command
            .output()
            .map_err(|e| failed(&command, e.to_string()))?;
        Ok(out.status.success())
    }

    pub(super) fn set(item: LoginItem, value: &str) -> Result<(), AutostartError> {
        let mut command = Command::new("reg.exe");
        command.args(["add", RUN_KEY, "/v", item.run_value_name(), "/t", "REG_SZ"]);
        command.args(["/d", value, "/f"]);
        run(command)
    }

    pub(super) fn remove(item: LoginItem) -> Result<(), AutostartError> {
        if !is_set(item)? {
            return Ok(());
        }
        let mut command = Command::new("reg.exe");
        command.args(["delete", RUN_KEY, "/v", item.run_value_name(), "/f"]);
        run(command)
    }

    fn run(mut command: Command) -> Result<(), AutostartError> {
        let out = command
            .output()
            .map_err(|e| failed(&command, e.to_string()))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(failed(
            &command,
            format!("{}: {}", out.status, stderr.trim()),
        ))
    }

    fn failed(command: &Command, detail: String) -> AutostartError {
        AutostartError::Command {
            command: command_line(command),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAM: &str = "/usr/bin/docker-credential-ecr";

    #[test]
    fn desktop_entry_starts_the_tray_from_a_plain_path() {
        let text = desktop_entry("/usr/bin/ecr-tray");
        assert!(text.starts_with("[Desktop Entry]\n"), "{text}");
        for line in [
            "Type=Application",
            "Exec=/usr/bin/ecr-tray",
            "Icon=ecr-tray",
            "X-GNOME-Autostart-enabled=true",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn desktop_entry_quotes_an_exec_path_with_spaces_and_reserved_characters() {
        let exec = |program: &str| {
            desktop_entry(program)
                .lines()
                .find_map(|l| l.strip_prefix("Exec=").map(str::to_string))
                .unwrap()
        };
        assert_eq!(
            exec("/opt/ECR Tray/ecr-tray"),
            r#""/opt/ECR Tray/ecr-tray""#
        );
        // `"` and `$` get a backslash inside the quotes; that backslash, like a literal one, is
        // then doubled by the key file's string escaping. `%` is doubled.
        assert_eq!(exec(r#"/x/a"b$c"#), r#""/x/a\\"b\\$c""#);
        assert_eq!(exec(r"/x/a\b"), r#""/x/a\\\\b""#);
        assert_eq!(exec("/x/100%/tray"), "/x/100%%/tray");
    }

    #[test]
    fn desktop_entry_switched_off_by_the_desktop_is_not_enabled() {
        assert!(desktop_entry_is_enabled(&desktop_entry(
            "/usr/bin/ecr-tray"
        )));
        let hidden = desktop_entry("/usr/bin/ecr-tray") + "Hidden=true\n";
        assert!(!desktop_entry_is_enabled(&hidden));
        let off = desktop_entry("/usr/bin/ecr-tray").replace(
            "X-GNOME-Autostart-enabled=true",
            "X-GNOME-Autostart-enabled = false",
        );
        assert!(!desktop_entry_is_enabled(&off));
    }

    #[test]
    fn systemd_unit_runs_the_agent_and_restarts_it_on_failure() {
        let text = systemd_user_unit(PROGRAM);
        for line in [
            "[Service]",
            "ExecStart=/usr/bin/docker-credential-ecr agent",
            "Restart=on-failure",
            "[Install]",
            "WantedBy=default.target",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn systemd_unit_quotes_paths_and_escapes_specifiers() {
        let exec = |program: &str| {
            systemd_user_unit(program)
                .lines()
                .find_map(|l| l.strip_prefix("ExecStart=").map(str::to_string))
                .unwrap()
        };
        assert_eq!(
            exec("/home/me/my tools/docker-credential-ecr"),
            r#""/home/me/my tools/docker-credential-ecr" agent"#
        );
        assert_eq!(exec("/x/50%$HOME/h"), "/x/50%%$HOME/h agent");
        assert_eq!(systemd_exec_word("a b$c", false), r#""a b$$c""#);
        assert_eq!(systemd_exec_word(r#"a"b\c"#, false), r#""a\"b\\c""#);
    }

    #[test]
    fn launch_agent_plists_have_labels_arguments_and_keep_the_agent_alive() {
        let agent = launch_agent_plist(
            LoginItem::Agent,
            "/Users/me/R&D tools/docker-credential-ecr",
            "/Users/me/Library/Logs/docker-credential-ecr-agent.log",
        );
        assert!(agent.contains("<string>io.github.docker-credential-ecr.agent</string>"));
        assert!(agent.contains(
            "<array>\n\t\t<string>/Users/me/R&amp;D tools/docker-credential-ecr</string>\n\t\t<string>agent</string>\n\t</array>"
        ), "{agent}");
        assert!(agent.contains("<key>RunAtLoad</key>\n\t<true/>"));
        assert!(agent.contains("<key>KeepAlive</key>"));
        assert!(agent.contains(
            "<key>StandardErrorPath</key>\n\t<string>/Users/me/Library/Logs/docker-credential-ecr-agent.log</string>"
        ));
        assert!(agent.ends_with("</dict>\n</plist>\n"));

        let tray = launch_agent_plist(
            LoginItem::Tray,
            "/Applications/ECR Tray.app/Contents/MacOS/ecr-tray",
            "/unused.log",
        );
        assert!(tray.contains("<string>io.github.docker-credential-ecr.tray</string>"));
        assert!(tray.contains(
            "<array>\n\t\t<string>/Applications/ECR Tray.app/Contents/MacOS/ecr-tray</string>\n\t</array>"
        ));
        assert!(tray.contains("<key>RunAtLoad</key>"));
        assert!(!tray.contains("KeepAlive"), "{tray}");
        assert!(!tray.contains("/unused.log"));
    }

    /// The files the installers ship are the ones this module writes, for the installed paths.
    #[test]
    fn installers_ship_the_same_login_items() {
        assert_eq!(
            include_str!("../../../installers/deb/docker-credential-ecr-agent.service"),
            systemd_user_unit("/usr/bin/docker-credential-ecr")
        );
        let home = "/Users/me";
        assert_eq!(
            include_str!("../../../installers/macos/io.github.docker-credential-ecr.agent.plist")
                .replace("@HOME@", home),
            launch_agent_plist(
                LoginItem::Agent,
                "/usr/local/bin/docker-credential-ecr",
                &format!("{home}/Library/Logs/docker-credential-ecr-agent.log")
            )
        );
        assert_eq!(
            include_str!("../../../installers/macos/io.github.docker-credential-ecr.tray.plist"),
            launch_agent_plist(
                LoginItem::Tray,
                "/Applications/ECR Tray.app/Contents/MacOS/ecr-tray",
                "/unused.log"
            )
        );
    }

    #[test]
    fn run_key_command_quotes_the_program() {
        assert_eq!(
            run_key_command(
                LoginItem::Agent,
                r"C:\Program Files\ECR\docker-credential-ecr.exe"
            ),
            r#""C:\Program Files\ECR\docker-credential-ecr.exe" agent"#
        );
        assert_eq!(
            run_key_command(LoginItem::Tray, r"C:\Program Files\ECR\ecr-tray.exe"),
            r#""C:\Program Files\ECR\ecr-tray.exe""#
        );
    }

    #[test]
    fn tray_is_enabled_with_a_desktop_entry_and_disabled_by_removing_it() {
        let home = tempfile::tempdir().unwrap();
        let autostart = Autostart::with_config_home(home.path());
        let entry = home.path().join("autostart/ecr-tray.desktop");
        assert_eq!(autostart.location(LoginItem::Tray), entry);
        assert!(!autostart.is_enabled(LoginItem::Tray).unwrap());

        autostart
            .set_enabled(LoginItem::Tray, true, Path::new("/opt/ecr tray/ecr-tray"))
            .unwrap();
        assert!(autostart.is_enabled(LoginItem::Tray).unwrap());
        let text = std::fs::read_to_string(&entry).unwrap();
        assert!(text.contains("Exec=\"/opt/ecr tray/ecr-tray\"\n"), "{text}");
        assert!(!autostart.is_enabled(LoginItem::Agent).unwrap());

        autostart
            .set_enabled(LoginItem::Tray, false, Path::new("/ignored"))
            .unwrap();
        assert!(!entry.exists());
        assert!(!autostart.is_enabled(LoginItem::Tray).unwrap());
        // Disabling twice is fine.
        autostart
            .set_enabled(LoginItem::Tray, false, Path::new("/ignored"))
            .unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn agent_is_enabled_like_systemctl_enable_and_disable_removes_only_that() {
        let home = tempfile::tempdir().unwrap();
        let autostart = Autostart::with_config_home(home.path());
        let unit = home
            .path()
            .join("systemd/user/docker-credential-ecr-agent.service");
        let link = home
            .path()
            .join("systemd/user/default.target.wants/docker-credential-ecr-agent.service");
        assert_eq!(autostart.location(LoginItem::Agent), unit);
        // Another unit the user enabled must survive.
        let other = link.with_file_name("other.service");
        std::fs::create_dir_all(other.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/usr/lib/systemd/user/other.service", &other).unwrap();

        autostart
            .set_enabled(LoginItem::Agent, true, Path::new(PROGRAM))
            .unwrap();
        assert!(autostart.is_enabled(LoginItem::Agent).unwrap());
        assert_eq!(std::fs::read_link(&link).unwrap(), unit);
        assert_eq!(
            std::fs::read_to_string(&unit).unwrap(),
            systemd_user_unit(PROGRAM)
        );
        // Enabling again (a moved program) rewrites the unit, keeps one link.
        autostart
            .set_enabled(
                LoginItem::Agent,
                true,
                Path::new("/opt/ecr/docker-credential-ecr"),
            )
            .unwrap();
        assert!(
            std::fs::read_to_string(&unit)
                .unwrap()
                .contains("ExecStart=/opt/ecr/docker-credential-ecr agent\n")
        );
        let entries: Vec<_> = std::fs::read_dir(link.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries.len(), 2, "{entries:?}");

        autostart
            .set_enabled(LoginItem::Agent, false, Path::new(PROGRAM))
            .unwrap();
        assert!(!autostart.is_enabled(LoginItem::Agent).unwrap());
        assert!(link.symlink_metadata().is_err());
        assert!(!unit.exists());
        assert!(other.symlink_metadata().is_ok());
        assert!(!autostart.is_enabled(LoginItem::Tray).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn agent_enabled_by_systemctl_counts_only_when_its_link_leads_to_a_unit() {
        let home = tempfile::tempdir().unwrap();
        let autostart = Autostart::with_config_home(home.path());
        let link = home
            .path()
            .join("systemd/user/default.target.wants/docker-credential-ecr-agent.service");
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        let packaged = home.path().join("packaged.service");
        std::os::unix::fs::symlink(&packaged, &link).unwrap();
        assert!(
            !autostart.is_enabled(LoginItem::Agent).unwrap(),
            "dangling link"
        );
        std::fs::write(&packaged, systemd_user_unit(PROGRAM)).unwrap();
        assert!(autostart.is_enabled(LoginItem::Agent).unwrap());
    }

    #[test]
    fn a_rejected_program_leaves_the_previous_entry_intact() {
        let home = tempfile::tempdir().unwrap();
        let autostart = Autostart::with_config_home(home.path());
        autostart
            .set_enabled(LoginItem::Tray, true, Path::new("/usr/bin/ecr-tray"))
            .unwrap();
        let before = std::fs::read_to_string(autostart.location(LoginItem::Tray)).unwrap();

        let err = autostart
            .set_enabled(LoginItem::Tray, true, Path::new("bin/ecr-tray"))
            .unwrap_err();
        assert!(
            matches!(err, AutostartError::RelativeProgram { .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "cannot start bin/ecr-tray at login: its path must be absolute"
        );
        let err = autostart
            .set_enabled(LoginItem::Tray, true, Path::new("/usr/bin/ecr\ntray"))
            .unwrap_err();
        assert!(
            matches!(err, AutostartError::UnsupportedProgramPath { .. }),
            "{err}"
        );

        let after = std::fs::read_to_string(autostart.location(LoginItem::Tray)).unwrap();
        assert_eq!(before, after);

        let err = autostart
            .set_enabled(
                LoginItem::Agent,
                true,
                Path::new(r#"/opt/a"b/docker-credential-ecr"#),
            )
            .unwrap_err();
        assert!(err.to_string().contains("systemd cannot run"), "{err}");
        assert!(!autostart.location(LoginItem::Agent).exists());
    }

    #[test]
    fn a_failed_write_names_the_file() {
        let home = tempfile::tempdir().unwrap();
        let autostart = Autostart::with_config_home(home.path());
        // A directory where the entry should be (a read-only directory would not stop root).
        let entry = autostart.location(LoginItem::Tray);
        std::fs::create_dir_all(entry.join("x")).unwrap();
        let err = autostart
            .set_enabled(LoginItem::Tray, true, Path::new("/usr/bin/ecr-tray"))
            .unwrap_err();
        assert!(matches!(err, AutostartError::Io { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot write {}: ", entry.display())),
            "{err}"
        );
        assert!(entry.join("x").is_dir());
        // No temp file left behind.
        let left: Vec<_> = std::fs::read_dir(entry.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from("ecr-tray.desktop")]);
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_link_names_it() {
        let home = tempfile::tempdir().unwrap();
        let autostart = Autostart::with_config_home(home.path());
        let wants = home.path().join("systemd/user/default.target.wants");
        std::fs::create_dir_all(wants.parent().unwrap()).unwrap();
        std::fs::write(&wants, "").unwrap();
        let err = autostart
            .set_enabled(LoginItem::Agent, true, Path::new(PROGRAM))
            .unwrap_err();
        assert_eq!(
            err.to_string().split(": ").next().unwrap(),
            format!("cannot create {}", wants.display())
        );
        assert!(!autostart.is_enabled(LoginItem::Agent).unwrap());
    }
}
