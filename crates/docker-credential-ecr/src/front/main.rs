//! `docker-credential-ecr`: the program docker runs, kept small so that a warm `get` pays for
//! little more than starting a process.
//!
//! On Linux, a `get` whose token is cached and fresh is answered here, from the files alone
//! ([`ecr_model::warm::cached_answer`], the very function the full program's service uses).
//! Everything else (a cold or due token, any other verb or command, any doubt) is handed to
//! `docker-credential-ecr-full` by `exec`, with the same arguments, environment and stdin
//! ([`handoff`]). This program links no AWS SDK, TLS, async runtime, keychain or command-line
//! parser: those cost a 21 MB binary's relocations and page faults on every run.
//!
//! On Linux with glibc the program has no Rust `main`: [`c_start`] is the C entry point and
//! does the little of std's runtime set-up this one-shot reader of two files needs (std's also
//! reads `/proc/self/maps` to place a stack guard), and [`no_unwind`] keeps `libgcc_s` out. The
//! full program keeps std's usual start.
//!
//! Output discipline is the full program's: stdout carries the answer only; this program logs
//! nothing (whatever it would have to say, it leaves to the full program).

#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

#[path = "../programs.rs"]
#[allow(dead_code, reason = "each program uses one direction")]
mod programs;

#[cfg(all(target_os = "linux", target_env = "gnu", not(test)))]
mod c_start;
#[cfg(target_os = "linux")]
mod guard;
mod handoff;
#[cfg(all(target_os = "linux", target_env = "gnu", not(test)))]
mod no_unwind;
#[cfg(target_os = "linux")]
mod warm_get;

use std::ffi::OsString;

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() -> std::process::ExitCode {
    let args = std::env::args_os().collect();
    std::process::ExitCode::from(u8::try_from(run(args)).unwrap_or(1))
}

/// The program, given its command line (the program's name first); returns its exit status.
#[cfg_attr(test, allow(dead_code))]
fn run(command_line: Vec<OsString>) -> i32 {
    let args: Vec<OsString> = command_line.into_iter().skip(1).collect();
    let stdin = match args.as_slice() {
        #[cfg(target_os = "linux")]
        [verb] if verb == "get" => match warm_get::answer() {
            warm_get::Outcome::Answered => return 0,
            warm_get::Outcome::WriteFailed | warm_get::Outcome::NotFound => return 1,
            warm_get::Outcome::ReadFailed(message) => return handoff::fail(&message),
            warm_get::Outcome::HandOff(input) => handoff::Stdin::Read(input),
        },
        _ => handoff::Stdin::Untouched,
    };
    handoff::run_full_program(&args, stdin)
}
