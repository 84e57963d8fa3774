//! What wakes the refresher besides its own deadlines: changes to the product config and the
//! token cache, and jumps of the wall clock.
//!
//! - Files: one `notify` watcher (inotify on Linux, FSEvents on macOS, ReadDirectoryChangesW on
//!   Windows) on the config directory and the token cache. Reads are ignored (a warm `get` only
//!   reads), so only writers wake the refresher: `add`/`remove`, a `get` or another refresher
//!   that fetched, `docker logout`.
//! - Clock: on Linux a `timerfd` on `CLOCK_REALTIME` armed with `TFD_TIMER_CANCEL_ON_SET`
//!   never expires but is cancelled whenever the wall clock is set (NTP step, `date -s`) and on
//!   resume from suspend, when monotonic sleeps have silently stood still. Elsewhere the
//!   refresher caps its sleeps instead ([`MAX_NAP`]) and compares the clocks when it wakes.
//!
//! Each source runs on its own thread and only sends a [`Wake`]; it stops when the
//! refresher's channel is gone.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::paths::Paths;

use super::Wake;

/// The longest the refresher sleeps where no clock-change event exists (not Linux).
pub const MAX_NAP: Option<Duration> = if cfg!(target_os = "linux") {
    None
} else {
    Some(Duration::from_secs(5 * 60))
};

/// Watches the config directory and the token cache; dropping it stops the watching.
pub struct FileWatch {
    _watcher: RecommendedWatcher,
}

/// Starts watching `paths`' config directory and token cache (both created, private, if
/// missing), sending [`Wake::ConfigChanged`] and [`Wake::CacheChanged`].
pub fn watch_files(paths: &Paths, wake: Sender<Wake>) -> Result<FileWatch, String> {
    let config_dir = paths.config_dir().to_path_buf();
    let cache_dir = paths.token_cache_dir();
    for dir in [&config_dir, &cache_dir] {
        crate::private_fs::create_private_dir(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let classify = Classifier {
        config_dir: config_dir.clone(),
        cache_dir: cache_dir.clone(),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if let Some(wake_up) = classify.wake_for(&event) {
            let _ = wake.send(wake_up);
        }
    })
    .map_err(|e| format!("cannot watch for changes: {e}"))?;
    watcher
        .watch(&config_dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch {}: {e}", config_dir.display()))?;
    watcher
        .watch(&cache_dir, RecursiveMode::Recursive)
        .map_err(|e| format!("cannot watch {}: {e}", cache_dir.display()))?;
    Ok(FileWatch { _watcher: watcher })
}

/// Which wake-up a file event means.
struct Classifier {
    config_dir: PathBuf,
    cache_dir: PathBuf,
}

impl Classifier {
    fn wake_for(&self, event: &notify::Event) -> Option<Wake> {
        if matches!(event.kind, EventKind::Access(_)) {
            return None;
        }
        let mut wake = None;
        for path in &event.paths {
            if path.starts_with(&self.cache_dir) {
                wake = wake.or(Some(Wake::CacheChanged));
            } else if self.is_config(path) {
                return Some(Wake::ConfigChanged);
            }
        }
        wake
    }

    /// The config file and the file secret store (not their temporary siblings' noise only:
    /// an atomic write ends with a rename onto the real name, which is reported).
    fn is_config(&self, path: &Path) -> bool {
        path.parent() == Some(&self.config_dir)
            && matches!(
                path.file_name().and_then(|n| n.to_str()),
                Some("config.json" | "keys.json")
            )
    }
}

/// Starts the wall-clock watcher: [`Wake::ClockChanged`] whenever the clock is set or the
/// machine resumes. Returns false where there is none (then sleeps are capped by [`MAX_NAP`]).
pub fn watch_clock(wake: Sender<Wake>) -> bool {
    #[cfg(target_os = "linux")]
    {
        linux_clock::spawn(wake)
    }
    #[cfg(not(target_os = "linux"))]
    {
        drop(wake);
        false
    }
}

#[cfg(target_os = "linux")]
mod linux_clock {
    use std::os::fd::OwnedFd;
    use std::sync::mpsc::Sender;

    use rustix::io::Errno;
    use rustix::time::{
        Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
        timerfd_settime,
    };

    use super::Wake;

    pub fn spawn(wake: Sender<Wake>) -> bool {
        let timer = match arm(None) {
            Ok(timer) => timer,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the wall clock; clock jumps are noticed at the next deadline");
                return false;
            }
        };
        std::thread::Builder::new()
            .name("ecr-clock-watch".into())
            .spawn(move || watch(timer, wake))
            .is_ok()
    }

    /// A timer that never expires (the far future) and is cancelled by a clock change.
    fn arm(timer: Option<OwnedFd>) -> rustix::io::Result<OwnedFd> {
        let timer = match timer {
            Some(timer) => timer,
            None => timerfd_create(TimerfdClockId::Realtime, TimerfdFlags::CLOEXEC)?,
        };
        let never = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: i64::from(i32::MAX) * 8,
                tv_nsec: 0,
            },
        };
        timerfd_settime(
            &timer,
            TimerfdTimerFlags::ABSTIME | TimerfdTimerFlags::CANCEL_ON_SET,
            &never,
        )?;
        Ok(timer)
    }

    fn watch(mut timer: OwnedFd, wake: Sender<Wake>) {
        let mut expirations = [0u8; 8];
        loop {
            match rustix::io::read(&timer, &mut expirations) {
                Err(Errno::CANCELED) => {
                    if wake.send(Wake::ClockChanged).is_err() {
                        return;
                    }
                    // Re-arming clears the cancelled state.
                    timer = match arm(Some(timer)) {
                        Ok(timer) => timer,
                        Err(_) => return,
                    };
                }
                Err(Errno::INTR) => {}
                // The far future arrived, or the timer broke: stop watching.
                Ok(_) | Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, ModifyKind, RenameMode};

    fn classifier() -> Classifier {
        Classifier {
            config_dir: PathBuf::from("/c/docker-credential-ecr"),
            cache_dir: PathBuf::from("/k/docker-credential-ecr/tokens"),
        }
    }

    fn event(kind: EventKind, path: &str) -> notify::Event {
        notify::Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn writes_to_the_config_or_the_cache_wake_the_refresher_and_reads_do_not() {
        let c = classifier();
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert_eq!(
            c.wake_for(&event(rename, "/c/docker-credential-ecr/config.json")),
            Some(Wake::ConfigChanged)
        );
        assert_eq!(
            c.wake_for(&event(
                EventKind::Create(CreateKind::File),
                "/k/docker-credential-ecr/tokens/h/abc.json"
            )),
            Some(Wake::CacheChanged)
        );
        assert_eq!(
            c.wake_for(&event(
                EventKind::Access(AccessKind::Any),
                "/k/docker-credential-ecr/tokens/h/abc.json"
            )),
            None
        );
        assert_eq!(
            c.wake_for(&event(rename, "/c/docker-credential-ecr/.tmpXYZ")),
            None,
            "a temporary file is not the config"
        );
    }
}
