//! The front program's C entry point (Linux, glibc): what std's start-up would do that this
//! program needs, and nothing more. Std's also reads `/proc/self/maps` to place a stack guard
//! and installs stack-overflow handlers: a measurable share of a warm `get`.
//!
//! - fds 0, 1 and 2 are opened on `/dev/null` when closed, so that no file the program opens
//!   takes their place (and the memory file that hands stdin on is never fd 0 itself);
//! - `SIGPIPE` is ignored, so that a reader gone away is a write error (exit 1), as in the full
//!   program, not a kill;
//! - the command line is taken from `argv` itself.

use std::ffi::{CStr, OsString};
use std::os::unix::ffi::OsStrExt;

#[unsafe(no_mangle)]
pub extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    open_standard_fds();
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: the C runtime passes `argc` valid, NUL-terminated strings in `argv`.
    let command_line = (0..usize::try_from(argc).unwrap_or(0))
        .map(|i| unsafe { *argv.add(i) })
        .take_while(|arg| !arg.is_null())
        .map(|arg| {
            OsString::from(std::ffi::OsStr::from_bytes(
                unsafe { CStr::from_ptr(arg) }.to_bytes(),
            ))
        })
        .collect();
    crate::run(command_line)
}

/// Opens `/dev/null` on each of fds 0, 1 and 2 that is closed (one `poll` when none is).
fn open_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd structures.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for pollfd in fds {
        if pollfd.revents & libc::POLLNVAL != 0 {
            // SAFETY: the path is a NUL-terminated string; the lowest free fd is the closed one.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}
