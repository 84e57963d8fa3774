//! Visible skips: a test that cannot run here (no root, a program missing) says so on the real
//! stdout and stderr, bypassing the harness's output capture, instead of passing silently. Under
//! `CI=true` there are no skips: a test that would skip fails, naming what is missing, so a CI
//! run cannot report green for tests that never ran.

use std::io::Write;

/// Prints `SKIP <test_name>: needs <what>` and returns true; under `CI=true` panics instead.
pub fn skip(test_name: &str, what: &str) -> bool {
    let line = skip_line(&|name| std::env::var(name).ok(), test_name, what);
    let _ = std::io::stderr().write_all(line.as_bytes());
    let _ = std::io::stdout().write_all(line.as_bytes());
    true
}

/// The line a skip prints; under `CI=true` (as `env` has it) a panic instead.
fn skip_line(env: &dyn Fn(&str) -> Option<String>, test_name: &str, what: &str) -> String {
    if under_ci(env) {
        panic!("{test_name} cannot run: it needs {what}, and under CI=true no test may skip");
    }
    format!("SKIP {test_name}: needs {what}\n")
}

/// Whether `CI` is set to a true value (`true` or `1`, as CI services set it).
fn under_ci(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("CI").is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_is_recognised_as_ci_services_set_it() {
        let env = |value: Option<&'static str>| move |_: &str| value.map(str::to_string);
        assert!(under_ci(&env(Some("true"))));
        assert!(under_ci(&env(Some("TRUE"))));
        assert!(under_ci(&env(Some("1"))));
        assert!(!under_ci(&env(Some("false"))));
        assert!(!under_ci(&env(Some(""))));
        assert!(!under_ci(&env(None)));
    }

    #[test]
    #[should_panic(expected = "under CI=true no test may skip")]
    fn under_ci_a_skip_fails() {
        skip_line(&|_| Some("true".to_string()), "some_test", "root");
    }

    #[test]
    fn elsewhere_a_skip_is_reported() {
        assert_eq!(
            skip_line(&|_| None, "some_test", "root"),
            "SKIP some_test: needs root\n"
        );
    }
}
