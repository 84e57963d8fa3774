//! The processes a verb started, and theirs: ended when the verb gives up.
//!
//! The AWS SDK runs a profile's `credential_process` as `sh -c <command>` and, when the fetch
//! is cut off by its deadline, drops it without ending it; whatever that shell started lives
//! on, holding docker's pipes. On Linux the helper makes itself a child subreaper
//! (`PR_SET_CHILD_SUBREAPER`) at the start of `get`, so that orphaned descendants are
//! re-parented to it rather than to init, and when it gives up (a failure answered, or the
//! watchdog) ends every descendant with `SIGKILL`. After a token is answered nothing is ended.
//! Elsewhere both are no-ops.
//!
//! This module never signals a process that is not a descendant of this one in this one's
//! session: it walks the parent links of `/proc`, never a process group (the helper shares
//! docker's), and leaves a daemon that started its own session (gpg-agent, ssh-agent) alone.

#[cfg(target_os = "linux")]
#[path = "descendants/linux.rs"]
mod platform;

#[cfg(not(target_os = "linux"))]
#[path = "descendants/other.rs"]
mod platform;

pub use platform::{adopt_orphans, end_all};
