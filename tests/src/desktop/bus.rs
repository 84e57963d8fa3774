//! Method calls and property reads on the desktop's private session bus, through
//! `busctl --address=... --json=short` (systemd's busctl prints every answer as JSON: each value
//! as `{"type": SIGNATURE, "data": VALUE}`, a variant's `data` being the same pair again).
//!
//! This module only talks to the bus; what the answers mean (tray items, menus) is for the
//! modules that call it.

use std::process::{Command, Stdio};

use serde_json::Value;

/// How long one method call may take (busctl's `--timeout`, seconds).
const CALL_TIMEOUT_SECS: &str = "5";

/// The desktop's bus, as a client of it.
#[derive(Clone, Debug)]
pub struct Bus {
    address: String,
}

impl Bus {
    pub fn new(address: &str) -> Bus {
        Bus {
            address: address.to_string(),
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// A `busctl` command on this bus with an emptied environment.
    pub fn busctl(&self) -> Command {
        let mut command = Command::new("busctl");
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg(format!("--address={}", self.address))
            .args(["--json=short", "--no-pager"])
            .stdin(Stdio::null());
        command
    }

    /// Calls `interface.method` with `signature` and `args` (in busctl's notation); the reply's
    /// values (the `data` array), `Value::Null` for a method that returns nothing, or busctl's
    /// complaint.
    pub fn call(
        &self,
        destination: &str,
        path: &str,
        interface: &str,
        method: &str,
        signature: &str,
        args: &[&str],
    ) -> Result<Value, String> {
        let timeout = format!("--timeout={CALL_TIMEOUT_SECS}");
        let command = self.method_call(
            &[&timeout],
            [destination, path, interface, method],
            signature,
            args,
        );
        let reply = run(command)?;
        if reply.trim().is_empty() {
            return Ok(Value::Null);
        }
        let value: Value = serde_json::from_str(&reply)
            .map_err(|e| format!("busctl answered non-JSON ({e}): {reply}"))?;
        Ok(value.get("data").cloned().unwrap_or(Value::Null))
    }

    /// Sends a method call without waiting for a reply (`--expect-reply=no`), as a panel sends
    /// menu events: the receiver may act and exit before it would answer (a "Quit" item).
    pub fn send(
        &self,
        destination: &str,
        path: &str,
        interface: &str,
        method: &str,
        signature: &str,
        args: &[&str],
    ) -> Result<(), String> {
        let command = self.method_call(
            &["--expect-reply=no"],
            [destination, path, interface, method],
            signature,
            args,
        );
        run(command).map(drop)
    }

    /// `busctl OPTIONS call DESTINATION PATH INTERFACE METHOD [-- SIGNATURE ARGS...]`.
    fn method_call(
        &self,
        options: &[&str],
        target: [&str; 4],
        signature: &str,
        args: &[&str],
    ) -> Command {
        let mut command = self.busctl();
        command.args(options).arg("call").args(target);
        if !signature.is_empty() {
            // `--` keeps negative numbers among the arguments from reading as options.
            command.args(["--", signature]).args(args);
        }
        command
    }

    /// The value of a property (its `data`).
    pub fn property(
        &self,
        destination: &str,
        path: &str,
        interface: &str,
        name: &str,
    ) -> Result<Value, String> {
        let mut command = self.busctl();
        command.arg(format!("--timeout={CALL_TIMEOUT_SECS}")).args([
            "get-property",
            destination,
            path,
            interface,
            name,
        ]);
        let reply = run(command)?;
        let value: Value = serde_json::from_str(&reply)
            .map_err(|e| format!("busctl answered non-JSON ({e}): {reply}"))?;
        Ok(value.get("data").cloned().unwrap_or(Value::Null))
    }

    /// A method of the bus itself (`org.freedesktop.DBus`) with one string argument.
    fn bus_method(&self, method: &str, name: &str) -> Result<Value, String> {
        self.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            method,
            "s",
            &[name],
        )
    }

    /// True when `name` has an owner.
    pub fn has_owner(&self, name: &str) -> bool {
        self.bus_method("NameHasOwner", name)
            .is_ok_and(|data| data[0].as_bool() == Some(true))
    }

    /// The process id of the connection owning `name` (a well-known or unique name).
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        self.bus_method("GetConnectionUnixProcessID", name)
            .ok()
            .and_then(|data| data[0].as_u64())
            .and_then(|pid| u32::try_from(pid).ok())
    }
}

/// Runs busctl; its stdout, or its stderr (and status) when it failed.
fn run(mut command: Command) -> Result<String, String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run busctl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "busctl {:?} failed ({}): {}",
            command.get_args().collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
