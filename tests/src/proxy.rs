//! Debian's `tinyproxy` as the corporate HTTP proxy between the product and AWS or a registry:
//! on a free loopback port with a private config and a log at level Info, which records every
//! `CONNECT` (so a test can tell which hosts went through it).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::system::{DaemonProcess, accepts_connections, free_loopback_port, wait_until};

/// Debian's tinyproxy on a free loopback port, allowing `CONNECT` to one port only.
pub struct Tinyproxy {
    port: u16,
    log: PathBuf,
    _process: DaemonProcess,
    _dir: TempDir,
}

impl Tinyproxy {
    /// Starts tinyproxy in the foreground and waits until it accepts connections.
    pub fn start(connect_port: u16) -> Tinyproxy {
        let dir = tempfile::Builder::new()
            .prefix("ecr-e2e-proxy-")
            .tempdir()
            .expect("proxy dir");
        let port = free_loopback_port();
        let log = dir.path().join("tinyproxy.log");
        let config = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nAllow 127.0.0.1\n\
                 ConnectPort {connect_port}\nLogFile \"{log}\"\nLogLevel Info\n\
                 PidFile \"{pid}\"\nDisableViaHeader Yes\n",
                log = log.display(),
                pid = dir.path().join("tinyproxy.pid").display(),
            ),
        )
        .expect("write tinyproxy config");
        let mut cmd = Command::new("tinyproxy");
        cmd.arg("-d").arg("-c").arg(&config);
        let mut process = DaemonProcess::spawn("tinyproxy", cmd, &dir.path().join("stdout.log"));
        let addr = format!("127.0.0.1:{port}").parse().expect("proxy address");
        let log_for_diagnostics = log.clone();
        wait_until(
            "tinyproxy to accept connections",
            Duration::from_secs(30),
            || {
                process.assert_running();
                accepts_connections(addr)
            },
            || crate::system::log_tail(&log_for_diagnostics, 4000),
        );
        Tinyproxy {
            port,
            log,
            _process: process,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `CONNECT` requests tinyproxy logged so far.
    pub fn connect_requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("Request (file descriptor") && line.contains("CONNECT "))
            .map(str::to_owned)
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
