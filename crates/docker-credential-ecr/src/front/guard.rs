//! The front program's hard time limit on a `get`, as the full program's watchdog has one.
//!
//! The warm path reads only local files, but a file on a hung network mount (or a FIFO swapped
//! in for one) blocks a read for good. Instead of a thread, which would cost every `get` its
//! start-up, a one-shot `ITIMER_REAL` raises `SIGALRM` at the limit; the handler writes the
//! answer prepared beforehand (async-signal-safe `write` only) and `_exit`s. Whoever claims the
//! answer first, the handler or the warm path, is the only one to write it. The timer is
//! disarmed before a hand-off: an interval timer survives `exec`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the full program's watchdog allows a `get`, in microseconds.
const HARD_LIMIT_MICROS: i64 = 9_200_000;

/// Whether the answer has been claimed.
static CLAIMED: AtomicBool = AtomicBool::new(false);

/// The guard's answer: the line for stdout, prepared before the timer is armed.
static FAILURE_LINE: OnceLock<Vec<u8>> = OnceLock::new();

/// Arms the limit for a `get` of the ECR registry `address`.
pub fn arm(address: &str) {
    arm_with(format!(
        "cannot get an ECR token for {address}: gave up after {:.1} s (something blocked: check the AWS config files and the network)\n",
        HARD_LIMIT_MICROS as f64 / 1e6
    ));
}

/// Arms the limit with `line` as the answer (a host that is not ECR: "not found", so that
/// docker goes on anonymously even when the config's read blocks).
pub fn arm_with(line: String) {
    if FAILURE_LINE.set(line.into_bytes()).is_err() {
        return;
    }
    // SAFETY: `on_alarm` only loads atomics, calls `write` and `_exit` (async-signal-safe), and
    // the line it writes was initialised before the handler could run.
    unsafe {
        libc::signal(libc::SIGALRM, on_alarm as *const () as libc::sighandler_t);
        set_timer(HARD_LIMIT_MICROS);
    }
}

/// Disarms the limit (before a hand-off, or once answered).
pub fn disarm() {
    // SAFETY: setting an interval timer to zero has no preconditions.
    unsafe { set_timer(0) };
}

/// Claims the right to write the answer; `false` when the guard has written it.
pub fn claim_answer() -> bool {
    CLAIMED
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

unsafe fn set_timer(micros: i64) {
    let value = libc::timeval {
        tv_sec: (micros / 1_000_000) as libc::time_t,
        tv_usec: (micros % 1_000_000) as libc::suseconds_t,
    };
    let timer = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: value,
    };
    // SAFETY: both pointers are valid for the call.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
}

extern "C" fn on_alarm(_signal: libc::c_int) {
    if !claim_answer() {
        return;
    }
    if let Some(line) = FAILURE_LINE.get() {
        // SAFETY: `line` is a valid buffer of `line.len()` bytes.
        unsafe { libc::write(libc::STDOUT_FILENO, line.as_ptr().cast(), line.len()) };
    }
    // SAFETY: `_exit` ends the process at once, which is what is wanted here.
    unsafe { libc::_exit(1) };
}
