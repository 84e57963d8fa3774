//! What the tray shows, computed from the refresher's [`Overview`] at one instant: the icon's
//! state, each registry's menu label, when those next change, and the menu's actions with the
//! ids their items carry.
//!
//! Pure functions of their arguments: no toolkit, no clock, no I/O. The UI thread calls
//! [`TrayView::at`] with the latest overview and the wall-clock time, and sleeps until
//! [`next_change`] when nothing else happens.
//!
//! Countdowns are rounded up to the minute ("expires in 1 min" until the token expires, never
//! "0 min"), so a label changes exactly when the time left crosses a whole minute.

use std::fmt;
use std::time::{Duration, SystemTime};

use ecr_core::refresher::{Overview, Phase, RegistryView, Summary};

/// The tray's title and tooltip, and the notifications' application name.
pub const APP_TITLE: &str = "ECR credentials";

/// The labels of the fixed menu items.
pub mod labels {
    pub const REFRESH_NOW: &str = "Refresh now";
    pub const COPY_HOST: &str = "Copy registry host";
    pub const NO_REGISTRIES: &str = "No registries configured";
    pub const REFRESH_ALL: &str = "Refresh all";
    pub const ADD_REGISTRY: &str = "Add a registry…";
    pub const OPEN_LOGS: &str = "Open logs folder";
    pub const START_AT_LOGIN: &str = "Start at login";
    pub const QUIT: &str = "Quit";
}

/// Longest error reason shown in a menu label, in characters (the log has the full one).
const MAX_REASON_CHARS: usize = 80;

/// The tray icon's state: one picture each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IconState {
    Ok,
    Expiring,
    Refreshing,
    Error,
    Unconfigured,
}

impl IconState {
    pub const ALL: [IconState; 5] = [
        IconState::Ok,
        IconState::Expiring,
        IconState::Refreshing,
        IconState::Error,
        IconState::Unconfigured,
    ];

    /// The state's name in the icon files (`ecr-tray-<name>.png`).
    pub fn name(self) -> &'static str {
        match self {
            IconState::Ok => "ok",
            IconState::Expiring => "expiring",
            IconState::Refreshing => "refreshing",
            IconState::Error => "error",
            IconState::Unconfigured => "unconfigured",
        }
    }
}

impl From<Summary> for IconState {
    fn from(summary: Summary) -> IconState {
        match summary {
            Summary::Ok => IconState::Ok,
            Summary::Expiring => IconState::Expiring,
            Summary::Refreshing => IconState::Refreshing,
            Summary::Error => IconState::Error,
            Summary::Unconfigured => IconState::Unconfigured,
        }
    }
}

/// Everything the tray shows at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    pub icon: IconState,
    /// Why the refresher cannot work at all, shown as a disabled first item.
    pub problem: Option<String>,
    /// One submenu each, sorted by host. Empty: "No registries configured".
    pub registries: Vec<RegistryRow>,
    /// The "Start at login" check mark.
    pub start_at_login: bool,
}

/// One registry's submenu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRow {
    pub host: String,
    /// `<vendor> · <host> — <state text>` (the key set's name first, when there is one), or
    /// `<host> — <state text>`.
    pub label: String,
}

/// What decides the menu's items (not their labels): when it changes, the menu is rebuilt;
/// otherwise labels and check marks are updated in place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    pub hosts: Vec<String>,
    pub problem: bool,
}

impl TrayView {
    /// The view of `overview` at `now`.
    pub fn at(overview: &Overview, start_at_login: bool, now: SystemTime) -> TrayView {
        TrayView {
            icon: overview.summary_at(now).into(),
            problem: overview
                .problem
                .as_deref()
                .map(|p| format!("error: {}", short_reason(p))),
            registries: overview
                .registries
                .iter()
                .map(|r| RegistryRow {
                    host: r.host.clone(),
                    label: match &r.key_set {
                        // The vendor once: a key set's failure starts with its name too.
                        Some(vendor) => format!(
                            "{vendor} · {} — {}",
                            r.host,
                            state_text(r, now).replacen(
                                &format!("error: {vendor}: "),
                                "error: ",
                                1
                            )
                        ),
                        None => format!("{} — {}", r.host, state_text(r, now)),
                    },
                })
                .collect(),
            start_at_login,
        }
    }

    pub fn layout(&self) -> Layout {
        Layout {
            hosts: self.registries.iter().map(|r| r.host.clone()).collect(),
            problem: self.problem.is_some(),
        }
    }
}

/// A registry's state as its label says it: `ok, expires in 7 h 12 min`, `expiring in 4 min`,
/// `refreshing…`, `error: <reason>`, `no token yet`, `expired`.
pub fn state_text(registry: &RegistryView, now: SystemTime) -> String {
    let left = registry
        .token
        .map(|t| t.expires_at.duration_since(now).unwrap_or(Duration::ZERO));
    match registry.phase_at(now) {
        Phase::Error => {
            let reason = registry.error.as_deref().unwrap_or("refresh failed");
            format!("error: {}", short_reason(reason))
        }
        Phase::Refreshing => "refreshing…".to_string(),
        Phase::NoToken if registry.token.is_some() => "expired".to_string(),
        Phase::NoToken => "no token yet".to_string(),
        Phase::Expiring => format!("expiring in {}", countdown(left.unwrap_or_default())),
        Phase::Ok => format!("ok, expires in {}", countdown(left.unwrap_or_default())),
    }
}

/// `left` rounded up to the minute: `7 h 12 min`, `4 min`, `12 h`.
pub fn countdown(left: Duration) -> String {
    let minutes = minutes_up(left);
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn minutes_up(left: Duration) -> u64 {
    let minutes = left.as_nanos().div_ceil(60_000_000_000);
    u64::try_from(minutes).unwrap_or(u64::MAX)
}

/// The first line of `reason`, cut to a menu's width.
pub fn short_reason(reason: &str) -> String {
    let line = reason.lines().map(str::trim).find(|l| !l.is_empty());
    let line = line.unwrap_or("unknown");
    if line.chars().count() <= MAX_REASON_CHARS {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(MAX_REASON_CHARS - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// When the view of `overview` next changes without a new overview: the earliest instant at
/// which a shown countdown loses a minute or a token enters its expiring window. `None` when
/// nothing shown depends on the time.
pub fn next_change(overview: &Overview, now: SystemTime) -> Option<SystemTime> {
    overview
        .registries
        .iter()
        .filter(|r| matches!(r.phase_at(now), Phase::Ok | Phase::Expiring))
        .filter_map(|r| {
            let token = r.token?;
            let left = token.expires_at.duration_since(now).ok()?;
            // The countdown shows `minutes_up(left)` until exactly (minutes - 1) whole minutes
            // are left.
            let whole = Duration::from_secs((minutes_up(left).max(1) - 1) * 60);
            let tick = now + (left - whole);
            let phase = (token.expiring_from > now).then_some(token.expiring_from);
            Some(phase.map_or(tick, |p| p.min(tick)))
        })
        .min()
}

/// What a menu item does. Its menu id is [`Action::id`]; the log line for it is
/// `menu: <Display>`, which is the item's label and the host it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    RefreshNow(String),
    CopyHost(String),
    RefreshAll,
    AddRegistry,
    OpenLogs,
    ToggleStartAtLogin,
    Quit,
}

impl Action {
    /// The menu item id that stands for this action.
    pub fn id(&self) -> String {
        match self {
            Action::RefreshNow(host) => format!("refresh:{host}"),
            Action::CopyHost(host) => format!("copy:{host}"),
            Action::RefreshAll => "refresh-all".to_string(),
            Action::AddRegistry => "add".to_string(),
            Action::OpenLogs => "open-logs".to_string(),
            Action::ToggleStartAtLogin => "start-at-login".to_string(),
            Action::Quit => "quit".to_string(),
        }
    }

    /// The action a menu item id stands for; `None` for ids this app never made.
    pub fn from_id(id: &str) -> Option<Action> {
        if let Some((kind, host)) = id.split_once(':') {
            if host.is_empty() {
                return None;
            }
            return match kind {
                "refresh" => Some(Action::RefreshNow(host.to_string())),
                "copy" => Some(Action::CopyHost(host.to_string())),
                _ => None,
            };
        }
        match id {
            "refresh-all" => Some(Action::RefreshAll),
            "add" => Some(Action::AddRegistry),
            "open-logs" => Some(Action::OpenLogs),
            "start-at-login" => Some(Action::ToggleStartAtLogin),
            "quit" => Some(Action::Quit),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::RefreshNow(host) => write!(f, "{} {host}", labels::REFRESH_NOW),
            Action::CopyHost(host) => write!(f, "{} {host}", labels::COPY_HOST),
            Action::RefreshAll => f.write_str(labels::REFRESH_ALL),
            Action::AddRegistry => f.write_str(labels::ADD_REGISTRY),
            Action::OpenLogs => f.write_str(labels::OPEN_LOGS),
            Action::ToggleStartAtLogin => f.write_str(labels::START_AT_LOGIN),
            Action::Quit => f.write_str(labels::QUIT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecr_core::refresher::TokenTimes;

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    const OTHER: &str = "210987654321.dkr.ecr.eu-west-1.amazonaws.com";

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// A registry whose 12 h token was received at t0 and counts as expiring in its last 15 min.
    fn registry(host: &str) -> RegistryView {
        RegistryView {
            host: host.to_string(),
            source: "key set acme".to_string(),
            key_set: Some("acme".to_string()),
            token: Some(TokenTimes {
                received_at: t0(),
                expires_at: t0() + secs(12 * 3600),
                expiring_from: t0() + secs(12 * 3600 - 15 * 60),
                renew_at: t0() + secs(6 * 3600),
            }),
            refreshing: false,
            error: None,
            next_attempt: None,
        }
    }

    fn overview(registries: Vec<RegistryView>) -> Overview {
        Overview {
            registries,
            problem: None,
        }
    }

    #[test]
    fn countdown_rounds_up_to_the_minute() {
        assert_eq!(countdown(secs(7 * 3600 + 11 * 60 + 1)), "7 h 12 min");
        assert_eq!(countdown(secs(7 * 3600 + 12 * 60)), "7 h 12 min");
        assert_eq!(countdown(secs(4 * 60 - 30)), "4 min");
        assert_eq!(countdown(Duration::from_millis(1)), "1 min");
        assert_eq!(countdown(secs(12 * 3600)), "12 h");
        assert_eq!(countdown(secs(12 * 3600 - 1)), "12 h");
        assert_eq!(countdown(secs(12 * 3600 + 1)), "12 h 1 min");
        assert_eq!(countdown(secs(59 * 60 + 1)), "1 h");
        assert_eq!(countdown(Duration::ZERO), "0 min");
    }

    #[test]
    fn a_fresh_token_is_ok_with_its_countdown() {
        let now = t0() + secs(4 * 3600 + 47 * 60 + 30);
        assert_eq!(
            state_text(&registry(HOST), now),
            "ok, expires in 7 h 13 min"
        );
        let view = TrayView::at(&overview(vec![registry(HOST)]), false, now);
        assert_eq!(view.icon, IconState::Ok);
        assert_eq!(
            view.registries,
            vec![RegistryRow {
                host: HOST.to_string(),
                label: format!("acme · {HOST} — ok, expires in 7 h 13 min"),
            }]
        );
    }

    #[test]
    fn a_token_in_its_last_window_is_expiring() {
        let now = t0() + secs(12 * 3600 - 4 * 60);
        assert_eq!(state_text(&registry(HOST), now), "expiring in 4 min");
        let view = TrayView::at(&overview(vec![registry(HOST)]), false, now);
        assert_eq!(view.icon, IconState::Expiring);
    }

    #[test]
    fn refreshing_error_missing_and_expired_tokens() {
        let now = t0() + secs(3600);
        let mut refreshing = registry(HOST);
        refreshing.refreshing = true;
        assert_eq!(state_text(&refreshing, now), "refreshing…");

        let mut failed = registry(HOST);
        failed.error = Some("ECR refused the keys: UnrecognizedClientException\nmore".into());
        assert_eq!(
            state_text(&failed, now),
            "error: ECR refused the keys: UnrecognizedClientException"
        );

        let mut missing = registry(HOST);
        missing.token = None;
        assert_eq!(state_text(&missing, now), "no token yet");

        // The menu names the vendor once, first, though the key set's error starts with it.
        let mut rejected = registry(HOST);
        rejected.error = Some("acme: AWS rejected its keys".into());
        let view = TrayView::at(&overview(vec![rejected]), false, now);
        assert_eq!(
            view.registries[0].label,
            format!("acme · {HOST} — error: AWS rejected its keys")
        );

        let after_expiry = t0() + secs(12 * 3600);
        assert_eq!(state_text(&registry(HOST), after_expiry), "expired");
        let view = TrayView::at(&overview(vec![registry(HOST)]), false, after_expiry);
        assert_eq!(view.icon, IconState::Error);
    }

    #[test]
    fn the_icon_is_the_most_urgent_registry() {
        let now = t0() + secs(3600);
        let mut refreshing = registry(OTHER);
        refreshing.refreshing = true;
        let view = TrayView::at(&overview(vec![registry(HOST), refreshing]), true, now);
        assert_eq!(view.icon, IconState::Refreshing);
        assert!(view.start_at_login);

        let mut failed = registry(OTHER);
        failed.error = Some("timed out".into());
        let view = TrayView::at(&overview(vec![registry(HOST), failed]), false, now);
        assert_eq!(view.icon, IconState::Error);
    }

    #[test]
    fn nothing_configured_is_unconfigured() {
        let view = TrayView::at(&Overview::default(), false, t0());
        assert_eq!(view.icon, IconState::Unconfigured);
        assert!(view.registries.is_empty());
        assert_eq!(view.problem, None);
        assert_eq!(view.layout(), Layout::default());
    }

    #[test]
    fn a_problem_is_an_error_row() {
        let mut broken = overview(vec![]);
        broken.problem = Some("cannot read config.json: expected value at line 1".into());
        let view = TrayView::at(&broken, false, t0());
        assert_eq!(view.icon, IconState::Error);
        assert_eq!(
            view.problem.as_deref(),
            Some("error: cannot read config.json: expected value at line 1")
        );
        assert!(view.layout().problem);
    }

    #[test]
    fn the_layout_changes_with_hosts_not_labels() {
        let a = TrayView::at(&overview(vec![registry(HOST)]), false, t0());
        let b = TrayView::at(&overview(vec![registry(HOST)]), true, t0() + secs(5000));
        assert_ne!(a, b);
        assert_eq!(a.layout(), b.layout());
        let c = TrayView::at(
            &overview(vec![registry(HOST), registry(OTHER)]),
            false,
            t0(),
        );
        assert_ne!(a.layout(), c.layout());
        assert_eq!(c.layout().hosts, vec![HOST.to_string(), OTHER.to_string()]);
    }

    #[test]
    fn long_reasons_are_cut() {
        let long = "x".repeat(200);
        let short = short_reason(&long);
        assert_eq!(short.chars().count(), MAX_REASON_CHARS);
        assert!(short.ends_with('…'));
        assert_eq!(short_reason("  \n  second line\n"), "second line");
        assert_eq!(short_reason(""), "unknown");
    }

    #[test]
    fn the_next_change_is_the_next_minute_of_the_countdown() {
        // 7 h 12 min 30 s left: "7 h 13 min" until 7 h 12 min are left, 30 s from now.
        let now = t0() + secs(12 * 3600 - (7 * 3600 + 12 * 60 + 30));
        let next = next_change(&overview(vec![registry(HOST)]), now).unwrap();
        assert_eq!(next, now + secs(30));
        assert_eq!(
            state_text(&registry(HOST), now),
            "ok, expires in 7 h 13 min"
        );
        assert_eq!(
            state_text(&registry(HOST), next),
            "ok, expires in 7 h 12 min"
        );
        assert_eq!(
            state_text(&registry(HOST), next - Duration::from_nanos(1)),
            "ok, expires in 7 h 13 min"
        );

        // On a whole minute the label holds for a full minute.
        let now = t0() + secs(3600);
        let next = next_change(&overview(vec![registry(HOST)]), now).unwrap();
        assert_eq!(next, now + secs(60));
    }

    #[test]
    fn the_next_change_includes_entering_the_expiring_window() {
        let mut odd = registry(HOST);
        // The window starts 20 s from now, the countdown ticks in 40 s.
        let now = t0() + secs(3600);
        let token = odd.token.as_mut().unwrap();
        token.expires_at = now + secs(2 * 3600 + 40);
        token.expiring_from = now + secs(20);
        assert_eq!(next_change(&overview(vec![odd]), now), Some(now + secs(20)));
    }

    #[test]
    fn the_next_change_is_the_earliest_registry_and_at_expiry_the_last() {
        let now = t0() + secs(12 * 3600 - 30);
        let mut later = registry(OTHER);
        later.token.as_mut().unwrap().expires_at = now + secs(3600 + 50);
        let next = next_change(&overview(vec![later, registry(HOST)]), now);
        // HOST expires in 30 s: "expiring in 1 min" until then, then "expired".
        assert_eq!(next, Some(now + secs(30)));
    }

    #[test]
    fn nothing_changes_by_itself_without_countdowns() {
        let now = t0() + secs(3600);
        let mut failed = registry(HOST);
        failed.error = Some("timed out".into());
        let mut refreshing = registry(OTHER);
        refreshing.refreshing = true;
        let mut missing = registry("x.dkr.ecr.us-east-1.amazonaws.com");
        missing.token = None;
        assert_eq!(
            next_change(&overview(vec![failed, refreshing, missing]), now),
            None
        );
        assert_eq!(next_change(&Overview::default(), now), None);
        assert_eq!(
            next_change(&overview(vec![registry(HOST)]), t0() + secs(13 * 3600)),
            None
        );
    }

    #[test]
    fn action_ids_round_trip() {
        let actions = [
            Action::RefreshNow(HOST.to_string()),
            Action::CopyHost(HOST.to_string()),
            Action::RefreshAll,
            Action::AddRegistry,
            Action::OpenLogs,
            Action::ToggleStartAtLogin,
            Action::Quit,
        ];
        for action in actions {
            assert_eq!(Action::from_id(&action.id()), Some(action.clone()));
        }
        assert_eq!(Action::from_id("refresh:"), None);
        assert_eq!(Action::from_id("delete:x"), None);
        assert_eq!(Action::from_id("1"), None);
    }

    #[test]
    fn actions_log_as_their_labels() {
        assert_eq!(
            Action::RefreshNow(HOST.to_string()).to_string(),
            format!("Refresh now {HOST}")
        );
        assert_eq!(
            Action::CopyHost(HOST.to_string()).to_string(),
            format!("Copy registry host {HOST}")
        );
        assert_eq!(Action::Quit.to_string(), "Quit");
        assert_eq!(Action::AddRegistry.to_string(), "Add a registry…");
    }

    #[test]
    fn icon_names_match_the_asset_files() {
        let names: Vec<_> = IconState::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            ["ok", "expiring", "refreshing", "error", "unconfigured"]
        );
    }
}
