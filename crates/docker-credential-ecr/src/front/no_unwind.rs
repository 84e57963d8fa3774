//! The front program without `libgcc_s` (Linux): the unwinder entry points std's panic and
//! backtrace code refers to, defined here so that the linker (`--as-needed`) leaves the
//! shared unwinder out. Loading it costs every `get` its relocations and its constructor,
//! which probes the CPU with `cpuid` (a trap to the hypervisor on virtual machines).
//!
//! The front never unwinds: a panic cannot start one (`_Unwind_RaiseException` reports the
//! end of the stack, and std then aborts the process, which docker sees as a failed helper),
//! and a backtrace is empty. Nothing here runs unless the program is already failing. The
//! full program keeps the real unwinder.

use std::ffi::{c_int, c_void};

/// `_URC_END_OF_STACK`: no frame handles the exception; no more frames to walk.
const END_OF_STACK: c_int = 5;

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_RaiseException(_exception: *mut c_void) -> c_int {
    END_OF_STACK
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume(_exception: *mut c_void) -> ! {
    std::process::abort()
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Backtrace(_trace: *mut c_void, _argument: *mut c_void) -> c_int {
    END_OF_STACK
}

// Only a personality routine calls these, and only while unwinding, which never starts here.

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetIP(_context: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetIPInfo(_context: *mut c_void, before: *mut c_int) -> usize {
    if !before.is_null() {
        // SAFETY: the caller passes a valid out-pointer (or null, checked above).
        unsafe { *before = 0 };
    }
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetLanguageSpecificData(_context: *mut c_void) -> *mut c_void {
    std::ptr::null_mut()
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetRegionStart(_context: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetTextRelBase(_context: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_GetDataRelBase(_context: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_SetGR(_context: *mut c_void, _index: c_int, _value: usize) {}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_SetIP(_context: *mut c_void, _value: usize) {}
