//! The processes a verb started, and theirs: ended when the verb gives up or finishes.
//!
//! The AWS SDK runs a profile's `credential_process` as `sh -c <command>` and, when the fetch
//! is cut off by its deadline, drops it without ending it; whatever that shell started lives
//! on, holding docker's pipes. On Linux the helper makes itself a child subreaper
//! (`PR_SET_CHILD_SUBREAPER`) at the start of `get`, so that orphaned descendants are
//! re-parented to it rather than to init, and ends every descendant with `SIGKILL` before it
//! answers (the watchdog too, before it exits). Elsewhere both are no-ops.
//!
//! This module never signals a process that is not a descendant of this one: it walks the
//! parent links of `/proc`, never a process group (the helper shares docker's).

#[cfg(target_os = "linux")]
#[path = "descendants/linux.rs"]
mod platform;

#[cfg(not(target_os = "linux"))]
#[path = "descendants/other.rs"]
mod platform;

pub use platform::{adopt_orphans, end_all};
