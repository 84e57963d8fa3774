//! Machine-wide fixtures for the end-to-end tests that need root: `/etc/hosts` entries, a Docker
//! daemon, a TLS registry on `127.0.0.x:443` under a genuine ECR hostname, the daemon's trust
//! store for that registry, and a tiny local image to push.
//!
//! # Serialisation
//!
//! Port 443 of a loopback address, `/etc/hosts` and `/etc/docker/certs.d` are shared by every test
//! process on the machine. Every fixture that touches them takes a [`SystemLock`]: an exclusive
//! `flock` on a file under [`STATE_DIR`], held for the whole scenario. It serialises tests in one
//! binary (each lock opens the file anew, and `flock` locks belong to the open file) as well as
//! separate test binaries, and the kernel drops it when a crashed test dies.
//!
//! # Leftovers from a crashed run
//!
//! Holding the lock means nothing else of ours is running, so what is found in [`STATE_DIR`] is
//! stale: a pidfile names a daemon or registry a killed test left behind, and it is killed (after
//! checking `/proc/<pid>/cmdline`, so a recycled pid of another program is left alone). Hosts lines
//! carry a marker with the pid that wrote them and are dropped once that pid is gone. Every
//! fixture undoes its change on `Drop`.
//!
//! # Skipping
//!
//! Without root these fixtures cannot work. [`skip_unless_root`] prints a `SKIP` line straight to
//! the process's stdout and stderr (bypassing the test harness's capture, so it shows in the
//! summary) and tells the test to return. CI runs as root and runs everything.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where the machine-wide fixtures keep their lock, pidfiles and daemon state.
pub const STATE_DIR: &str = "/tmp/ecr-e2e-system";
/// The hosts file the fixtures edit.
pub const HOSTS_FILE: &str = "/etc/hosts";
/// The marker that ends every line this crate adds to the hosts file.
pub const HOSTS_MARKER: &str = "# ecr-e2e-test";
/// Where dockerd (and skopeo) look for per-registry CA certificates.
pub const DOCKER_CERTS_DIR: &str = "/etc/docker/certs.d";
/// The user name ECR registries expect (and the registry fixture's htpasswd holds).
pub const ECR_USER: &str = "AWS";

/// How long a daemon may take to become ready before the test fails.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopped process may take to exit before it is killed outright.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// The pause between two readiness checks.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// True when the process runs as root (the owner of `/proc/self` is the effective uid).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Returns true (and says so visibly) when `test_name` must be skipped for lack of root.
///
/// The line goes to the real stdout and stderr, not through `print!`, so the test harness's
/// output capture does not hide it.
pub fn skip_unless_root(test_name: &str) -> bool {
    if is_root() {
        return false;
    }
    crate::skip::skip(test_name, "root")
}

/// The state directory, created on first use.
pub fn state_dir() -> PathBuf {
    let dir = PathBuf::from(STATE_DIR);
    std::fs::create_dir_all(&dir).expect("create fixture state dir");
    dir
}

/// Polls `ready` until it returns true, panicking after `timeout` with `what` and `diagnostics()`.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
    diagnostics: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\n{}",
            diagnostics()
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// True when something accepts TCP connections on `addr`.
pub fn accepts_connections(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// The last `max` bytes of a log file, for failure messages.
pub fn log_tail(path: &Path, max: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    format!("--- {} (tail) ---\n{}", path.display(), &text[start..])
}

/// Exclusive use of the machine-wide fixtures; see the module docs.
pub struct SystemLock {
    _file: File,
}

impl SystemLock {
    /// Blocks until no other test (thread or process) holds the lock.
    pub fn acquire() -> SystemLock {
        SystemLock {
            _file: lock_file(&state_dir().join("system.lock")),
        }
    }
}

/// Opens `path` and takes an exclusive `flock` on it (released when the file is closed).
fn lock_file(path: &Path) -> File {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open lock file {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
    file
}

/// True when a process with this pid exists and has not exited (a zombie awaiting its reaper
/// counts as gone).
fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

/// The command line of `pid` with NULs as spaces, or "" when it is gone.
fn pid_cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Sends `signal` (e.g. "TERM") to `pid` with the `kill` command.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Stops the process named in `pidfile` when it is still running `program`, then removes the
/// pidfile: the leftover of a run that crashed before its fixtures' `Drop`.
pub fn kill_stale_pidfile(pidfile: &Path, program: &str) {
    let Ok(text) = std::fs::read_to_string(pidfile) else {
        return;
    };
    if let Ok(pid) = text.trim().parse::<u32>()
        && pid_cmdline(pid).contains(program)
    {
        eprintln!("killing stale {program} (pid {pid}) from an earlier run");
        stop_pid(pid);
    }
    let _ = std::fs::remove_file(pidfile);
}

/// SIGTERM, a grace period, then SIGKILL.
fn stop_pid(pid: u32) {
    signal(pid, "TERM");
    let deadline = Instant::now() + STOP_TIMEOUT;
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(POLL_INTERVAL);
    }
    if pid_alive(pid) {
        signal(pid, "KILL");
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// A child process that is stopped (SIGTERM, then SIGKILL) and reaped on `Drop`.
pub struct DaemonProcess {
    child: Child,
    name: String,
    log: PathBuf,
}

impl DaemonProcess {
    /// Spawns `cmd` with stdout and stderr written to `log` (a new file).
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> DaemonProcess {
        let out = File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out.try_clone().expect("clone log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        DaemonProcess {
            child,
            name: name.to_string(),
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Panics with the log tail when the process has already exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early ({status})\n{}",
                self.name,
                log_tail(&self.log, 4000)
            );
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The end of the process's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 4000)
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id(), "TERM");
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(POLL_INTERVAL);
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// /etc/hosts
// ---------------------------------------------------------------------------------------------

/// Distinguishes several guards of one process.
static NEXT_HOSTS_GUARD: AtomicU32 = AtomicU32::new(1);

/// Lines in `/etc/hosts` that exist while this guard lives.
///
/// Each line ends with `# ecr-e2e-test pid=<pid> id=<n>`. Creating a guard also removes marked
/// lines whose pid is gone (a crashed run). The file is rewritten in place, never replaced: in a
/// container `/etc/hosts` is a bind mount, and a rename would fail or detach it.
pub struct HostsEntries {
    tag: String,
}

impl HostsEntries {
    /// Adds one `IP HOST` line per pair, e.g. `("127.0.0.2", EXAMPLE_REGISTRY)`.
    pub fn add(entries: &[(&str, &str)]) -> HostsEntries {
        let id = NEXT_HOSTS_GUARD.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{HOSTS_MARKER} pid={} id={id}", std::process::id());
        edit_hosts(|text| {
            let mut kept = without_stale_lines(text);
            for (ip, host) in entries {
                kept.push_str(&format!("{ip} {host} {tag}\n"));
            }
            kept
        });
        HostsEntries { tag }
    }
}

impl Drop for HostsEntries {
    fn drop(&mut self) {
        let tag = self.tag.clone();
        edit_hosts(|text| {
            text.lines()
                .filter(|line| !line.ends_with(&tag))
                .map(|line| format!("{line}\n"))
                .collect()
        });
    }
}

/// `text` without the marked lines whose writer is no longer running.
fn without_stale_lines(text: &str) -> String {
    let mut kept: String = text
        .lines()
        .filter(|line| !is_stale_hosts_line(line))
        .map(|line| format!("{line}\n"))
        .collect();
    if kept.is_empty() {
        kept.push('\n');
    }
    kept
}

/// True for a line we added whose pid is gone (or unreadable).
fn is_stale_hosts_line(line: &str) -> bool {
    let Some((_, marker)) = line.split_once(HOSTS_MARKER) else {
        return false;
    };
    let pid = marker
        .split_whitespace()
        .find_map(|field| field.strip_prefix("pid="))
        .and_then(|pid| pid.parse::<u32>().ok());
    match pid {
        Some(pid) => !pid_alive(pid),
        None => true,
    }
}

/// Reads, transforms and rewrites the hosts file in place under its own lock.
fn edit_hosts(change: impl FnOnce(&str) -> String) {
    let _lock = lock_file(&state_dir().join("hosts.lock"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(HOSTS_FILE)
        .unwrap_or_else(|e| panic!("open {HOSTS_FILE} for writing (needs root): {e}"));
    let mut text = String::new();
    file.read_to_string(&mut text).expect("read hosts file");
    let new_text = change(&text);
    if new_text == text {
        return;
    }
    file.seek(SeekFrom::Start(0)).expect("seek hosts file");
    file.set_len(0).expect("truncate hosts file");
    file.write_all(new_text.as_bytes())
        .expect("write hosts file");
    file.sync_all().expect("sync hosts file");
}

// ---------------------------------------------------------------------------------------------
// /etc/docker/certs.d/<host>/ca.crt
// ---------------------------------------------------------------------------------------------

/// Makes dockerd (and skopeo, which reads the same directory) trust `ca_pem` for `host`, until
/// dropped. An earlier run's file is simply overwritten.
pub struct DockerCertsEntry {
    dir: PathBuf,
}

impl DockerCertsEntry {
    pub fn install(_lock: &SystemLock, host: &str, ca_pem: &Path) -> DockerCertsEntry {
        let dir = Path::new(DOCKER_CERTS_DIR).join(host);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("create {} (needs root): {e}", dir.display()));
        std::fs::copy(ca_pem, dir.join("ca.crt"))
            .unwrap_or_else(|e| panic!("copy CA into {}: {e}", dir.display()));
        DockerCertsEntry { dir }
    }

    /// The directory holding `ca.crt`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for DockerCertsEntry {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("ca.crt"));
        let _ = std::fs::remove_dir(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// dockerd
// ---------------------------------------------------------------------------------------------

/// A private Docker daemon with its own socket, data root and exec root under [`STATE_DIR`].
///
/// Flags are the ones known to work in this sandbox (vfs storage, no iptables, no bridge). Its
/// directories are wiped before start and after stop.
pub struct Dockerd {
    process: Option<DaemonProcess>,
    root: PathBuf,
}

impl Dockerd {
    /// Starts the daemon and waits until `docker version` answers through its socket.
    pub fn start(_lock: &SystemLock) -> Dockerd {
        let root = state_dir().join("dockerd");
        let pidfile = state_dir().join("dockerd.pid");
        kill_stale_pidfile(&pidfile, "dockerd");
        remove_tree(&root);
        std::fs::create_dir_all(&root).expect("create dockerd dir");
        let config = root.join("daemon.json");
        std::fs::write(&config, "{}\n").expect("write daemon.json");

        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("--pidfile")
            .arg(&pidfile)
            .arg("--host")
            .arg(format!("unix://{}", root.join("docker.sock").display()))
            .args([
                "--storage-driver",
                "vfs",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
            ]);
        let process = DaemonProcess::spawn("dockerd", cmd, &state_dir().join("dockerd.log"));
        let mut dockerd = Dockerd {
            process: Some(process),
            root,
        };
        dockerd.wait_ready();
        dockerd
    }

    fn wait_ready(&mut self) {
        let host = self.docker_host();
        let process = self.process.as_mut().expect("running");
        let log = process.log_path().to_path_buf();
        wait_until(
            "dockerd to answer `docker version`",
            READY_TIMEOUT,
            || {
                process.assert_running();
                Command::new("docker")
                    .arg("version")
                    .env("DOCKER_HOST", &host)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            },
            || log_tail(&log, 4000),
        );
    }

    /// Everything the daemon writes: its data root, exec root, config and log.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `unix://...` for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.root.join("docker.sock").display())
    }

    /// A `docker` CLI command talking to this daemon (add the sandbox's environment yourself
    /// when the command must reach a credential helper).
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", self.docker_host());
        cmd
    }

    /// The end of the daemon's log.
    pub fn log_tail(&self) -> String {
        self.process
            .as_ref()
            .map(DaemonProcess::log_tail)
            .unwrap_or_default()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        drop(self.process.take());
        remove_tree(&self.root);
        let _ = std::fs::remove_file(state_dir().join("dockerd.pid"));
    }
}

/// `rm -rf`, tolerating a missing tree.
fn remove_tree(path: &Path) {
    if path.exists()
        && let Err(e) = std::fs::remove_dir_all(path)
    {
        panic!("remove {}: {e}", path.display());
    }
}

/// Imports a one-binary busybox image as `reference` into `dockerd` (nothing can be pulled from
/// the internet here). Needs Debian's `busybox-static`.
pub fn import_busybox_image(dockerd: &Dockerd, reference: &str) {
    let work = tempfile::Builder::new()
        .prefix("ecr-e2e-image-")
        .tempdir()
        .expect("image temp dir");
    let rootfs = work.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("create rootfs");
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox not found: install Debian's busybox-static");
    std::fs::copy(busybox, rootfs.join("bin/busybox")).expect("copy busybox");
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).expect("link sh");
    let tar = work.path().join("image.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    run_ok(dockerd.docker().arg("import").arg(&tar).arg(reference));
}

/// Runs `cmd`, panicking with its output unless it succeeds; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------------------------

/// Debian's `docker-registry` (distribution 2.8) serving TLS on `ip:443` with a certificate for
/// the registry's host name, and basic auth for one user and password: by default user `AWS`,
/// the shape of an ECR registry as far as docker and skopeo can tell.
///
/// Several may run side by side (a mirror's source and target), each under its own
/// [`RegistrySpec::name`]: its state directory, pidfile and log are named after it.
pub struct Registry {
    process: Option<DaemonProcess>,
    root: PathBuf,
    pidfile: PathBuf,
    addr: SocketAddr,
}

/// What sets one registry fixture apart from another on the machine.
#[derive(Debug, Clone, Copy)]
pub struct RegistrySpec<'a> {
    /// Names its state directory (`STATE_DIR/<name>`), pidfile (`<name>.pid`) and log
    /// (`<name>.log`).
    pub name: &'a str,
    /// The loopback address it serves on, port 443.
    pub ip: &'a str,
    /// Its TLS certificate and key (PEM).
    pub cert: &'a Path,
    pub key: &'a Path,
    /// The one user its htpasswd file holds, and that user's password.
    pub user: &'a str,
    pub password: &'a str,
}

impl Registry {
    /// Starts the registry on `ip:443` with `cert`/`key` and `password` for user `AWS`, and waits
    /// until it accepts connections. A registry of an earlier crashed run is killed first.
    pub fn start(lock: &SystemLock, ip: &str, cert: &Path, key: &Path, password: &str) -> Registry {
        let spec = RegistrySpec {
            name: "registry",
            ip,
            cert,
            key,
            user: ECR_USER,
            password,
        };
        Registry::start_as(lock, &spec)
    }

    /// Starts the registry `spec` describes and waits until it accepts connections. A registry
    /// of the same name left by an earlier crashed run is killed first.
    pub fn start_as(_lock: &SystemLock, spec: &RegistrySpec) -> Registry {
        let addr: SocketAddr = format!("{}:443", spec.ip)
            .parse()
            .expect("registry address");
        let root = state_dir().join(spec.name);
        let pidfile = state_dir().join(format!("{}.pid", spec.name));
        kill_stale_pidfile(&pidfile, "docker-registry");
        remove_tree(&root);
        std::fs::create_dir_all(root.join("storage")).expect("create registry dir");
        assert_port_free(addr);

        let htpasswd = root.join("htpasswd");
        let entry = run_ok(Command::new("htpasswd").args(["-Bbn", spec.user, spec.password]));
        std::fs::write(&htpasswd, entry).expect("write htpasswd");
        let config = root.join("config.yml");
        std::fs::write(
            &config,
            registry_config(addr, &root.join("storage"), spec.cert, spec.key, &htpasswd),
        )
        .expect("write registry config");

        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve").arg(&config);
        let log = state_dir().join(format!("{}.log", spec.name));
        let process = DaemonProcess::spawn("docker-registry", cmd, &log);
        std::fs::write(&pidfile, process.pid().to_string()).expect("write registry pidfile");
        let mut registry = Registry {
            process: Some(process),
            root,
            pidfile,
            addr,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&mut self) {
        let addr = self.addr;
        let process = self.process.as_mut().expect("running");
        let log = process.log_path().to_path_buf();
        wait_until(
            &format!("docker-registry to listen on {addr}"),
            READY_TIMEOUT,
            || {
                process.assert_running();
                accepts_connections(addr)
            },
            || log_tail(&log, 4000),
        );
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The root of the registry's filesystem storage (`docker/registry/v2/...` below it).
    pub fn storage(&self) -> PathBuf {
        self.root.join("storage")
    }

    /// The registry's whole log (requests and auth failures are logged there).
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(|p| std::fs::read_to_string(p.log_path()).unwrap_or_default())
            .unwrap_or_default()
    }

    /// The end of the registry's log.
    pub fn log_tail(&self) -> String {
        self.process
            .as_ref()
            .map(DaemonProcess::log_tail)
            .unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        drop(self.process.take());
        let _ = std::fs::remove_file(&self.pidfile);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Panics with a clear message when `addr` cannot be bound (someone else's server on it).
fn assert_port_free(addr: SocketAddr) {
    if let Err(e) = TcpListener::bind(addr) {
        panic!(
            "{addr} is busy ({e}) and not by a registry of ours (no live pidfile in {STATE_DIR}): \
             stop whatever listens there"
        );
    }
}

/// The registry's YAML configuration.
fn registry_config(
    addr: SocketAddr,
    storage: &Path,
    cert: &Path,
    key: &Path,
    htpasswd: &Path,
) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: info\n  accesslog:\n    disabled: false\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
         http:\n  addr: {addr}\n  secret: ecr-e2e-not-a-secret\n  tls:\n    certificate: {cert}\n    key: {key}\n\
         auth:\n  htpasswd:\n    realm: ecr-e2e\n    path: {htpasswd}\n",
        storage = storage.display(),
        cert = cert.display(),
        key = key.display(),
        htpasswd = htpasswd.display(),
    )
}
