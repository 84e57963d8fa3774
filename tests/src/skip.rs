//! Visible skips: a test that cannot run here (no root, a program missing) says so on the real
//! stdout and stderr, bypassing the harness's output capture, instead of passing silently.

use std::io::Write;

/// Prints `SKIP <test_name>: needs <what>` and returns true.
pub fn skip(test_name: &str, what: &str) -> bool {
    let line = format!("SKIP {test_name}: needs {what}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    let _ = std::io::stdout().write_all(line.as_bytes());
    true
}

/// The programs of `tools` that are not on `PATH`.
pub fn missing_programs<'a>(tools: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    tools.into_iter().filter(|t| !on_path(t)).collect()
}

/// Whether `tool` is a file in one of `PATH`'s directories.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}
