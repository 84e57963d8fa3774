//! The tray's logic, independent of toolkit and event loop: it keeps the latest [`Overview`],
//! turns it into what the tray shows, carries out menu actions and passes notices on.
//!
//! The UI thread feeds it [`UiEvent`]s (from the menu and, through [`Forward`], from the
//! refresher) and, when no event came before [`App::next_wake`], asks it to
//! [`redraw`](App::redraw) the countdowns. It never blocks: token work belongs to the
//! refresher, notifications to their own thread, child processes to theirs.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use ecr_core::refresher::{Notice, Observer, Overview, RefresherHandle};

use crate::actions::{ActionError, Desktop};
use crate::model::{self, Action, TrayView};
use crate::notices::{self, Message};

/// Something the UI thread must handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiEvent {
    /// A menu item was activated: its id.
    Menu(String),
    Overview(Overview),
    Notice(Notice),
}

/// Whether the tray goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// The tray as the app sees it.
pub trait Ui {
    /// Shows `view`: the icon, the menu's items, labels and check marks.
    fn show(&mut self, view: &TrayView);
    /// Shows a notification, without waiting for it.
    fn notify(&mut self, message: Message);
}

/// What the app asks of the refresher.
pub trait Refresh {
    fn refresh_now(&self, host: &str);
    fn refresh_all(&self);
}

impl Refresh for RefresherHandle {
    fn refresh_now(&self, host: &str) {
        RefresherHandle::refresh_now(self, host);
    }

    fn refresh_all(&self) {
        RefresherHandle::refresh_all(self);
    }
}

/// Hands events to the UI thread; how that thread is woken depends on its event loop.
pub trait EventSink: Send + Sync + 'static {
    fn send(&self, event: UiEvent);
}

impl EventSink for mpsc::Sender<UiEvent> {
    fn send(&self, event: UiEvent) {
        // A send after the UI thread has gone has nobody to show it to.
        let _ = mpsc::Sender::send(self, event);
    }
}

/// The refresher's [`Observer`]: forwards everything to the UI thread and returns at once.
pub struct Forward<S>(pub S);

impl<S: EventSink> Observer for Forward<S> {
    fn overview(&self, overview: &Overview) {
        self.0.send(UiEvent::Overview(overview.clone()));
    }

    fn notice(&self, notice: &Notice) {
        self.0.send(UiEvent::Notice(notice.clone()));
    }
}

/// A little slack after a countdown's minute ends, so the redraw is surely past it.
const REDRAW_SLACK: Duration = Duration::from_millis(20);

pub struct App<U, D, R> {
    ui: U,
    desktop: D,
    refresher: R,
    logs_dir: PathBuf,
    overview: Overview,
    start_at_login: bool,
}

impl<U: Ui, D: Desktop, R: Refresh> App<U, D, R> {
    /// The app with nothing known yet (the refresher's first overview follows at once), shown.
    pub fn new(ui: U, desktop: D, refresher: R, logs_dir: PathBuf, now: SystemTime) -> Self {
        let start_at_login = desktop.start_at_login().unwrap_or_else(|e| {
            tracing::warn!("cannot tell whether the tray starts at login: {e}");
            false
        });
        let mut app = App {
            ui,
            desktop,
            refresher,
            logs_dir,
            overview: Overview::default(),
            start_at_login,
        };
        app.redraw(now);
        app
    }

    /// Handles one event.
    pub fn handle(&mut self, event: UiEvent, now: SystemTime) -> Flow {
        match event {
            UiEvent::Overview(overview) => {
                tracing::debug!(?overview, "overview");
                self.overview = overview;
            }
            UiEvent::Notice(notice) => {
                // The refresher has logged it.
                self.ui.notify(notices::message(&notice));
            }
            UiEvent::Menu(id) => {
                let Some(action) = Action::from_id(&id) else {
                    tracing::debug!("menu item {id:?} has no action");
                    return Flow::Continue;
                };
                tracing::info!("menu: {action}");
                if self.act(action) == Flow::Quit {
                    return Flow::Quit;
                }
            }
        }
        self.redraw(now);
        Flow::Continue
    }

    /// Shows the current overview as it is at `now` (countdowns move on by themselves).
    pub fn redraw(&mut self, now: SystemTime) {
        let view = TrayView::at(&self.overview, self.start_at_login, now);
        self.ui.show(&view);
    }

    /// How long the UI thread may sleep, if no event comes, before [`App::redraw`] is due.
    /// `None`: nothing shown changes by itself.
    pub fn next_wake(&self, now: SystemTime) -> Option<Duration> {
        let at = model::next_change(&self.overview, now)?;
        Some(at.duration_since(now).unwrap_or_default() + REDRAW_SLACK)
    }

    /// Ends the app, handing back the tray and the refresher to be torn down.
    pub fn into_parts(self) -> (U, R) {
        (self.ui, self.refresher)
    }

    fn act(&mut self, action: Action) -> Flow {
        match action {
            Action::RefreshNow(host) => self.refresher.refresh_now(&host),
            Action::RefreshAll => self.refresher.refresh_all(),
            Action::CopyHost(host) => {
                let result = self.desktop.copy_text(&host);
                self.report("Cannot copy the registry host", result);
            }
            Action::AddRegistry => match self.desktop.open_add_terminal() {
                Err(ActionError::NoTerminal) => {
                    tracing::warn!("no terminal to run `add` in");
                    let message = notices::no_terminal(&self.desktop.helper_command());
                    self.ui.notify(message);
                }
                result => self.report("Cannot open a terminal", result),
            },
            Action::OpenLogs => {
                let result = self.desktop.open_folder(&self.logs_dir);
                self.report("Cannot open the logs folder", result);
            }
            Action::ToggleStartAtLogin => {
                let wanted = !self.start_at_login;
                match self.desktop.set_start_at_login(wanted) {
                    Ok(()) => {
                        self.start_at_login = wanted;
                        let state = if wanted { "on" } else { "off" };
                        tracing::info!("start at login: {state}");
                    }
                    Err(e) => self.report("Cannot change Start at login", Err(e)),
                }
            }
            Action::Quit => return Flow::Quit,
        }
        Flow::Continue
    }

    fn report(&mut self, what: &str, result: Result<(), ActionError>) {
        if let Err(e) = result {
            tracing::warn!("{what}: {e}");
            self.ui.notify(notices::action_failed(what, &e.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::path::Path;
    use std::rc::Rc;

    use ecr_core::refresher::{RegistryView, TokenTimes};

    use super::*;
    use crate::model::IconState;

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    /// What the fakes saw, shared with the test.
    #[derive(Default)]
    struct Seen {
        views: Vec<TrayView>,
        messages: Vec<Message>,
        calls: Vec<String>,
    }

    type Shared = Rc<RefCell<Seen>>;

    struct FakeUi(Shared);

    impl Ui for FakeUi {
        fn show(&mut self, view: &TrayView) {
            self.0.borrow_mut().views.push(view.clone());
        }
        fn notify(&mut self, message: Message) {
            self.0.borrow_mut().messages.push(message);
        }
    }

    struct FakeDesktop {
        seen: Shared,
        start_at_login: bool,
        terminal: bool,
        autostart_works: bool,
    }

    impl Desktop for FakeDesktop {
        fn copy_text(&mut self, text: &str) -> Result<(), ActionError> {
            self.seen.borrow_mut().calls.push(format!("copy {text}"));
            Ok(())
        }
        fn open_folder(&mut self, dir: &Path) -> Result<(), ActionError> {
            let call = format!("open {}", dir.display());
            self.seen.borrow_mut().calls.push(call);
            Ok(())
        }
        fn open_add_terminal(&mut self) -> Result<(), ActionError> {
            self.seen.borrow_mut().calls.push("terminal".into());
            if self.terminal {
                Ok(())
            } else {
                Err(ActionError::NoTerminal)
            }
        }
        fn helper_command(&self) -> String {
            "/opt/ecr/docker-credential-ecr".into()
        }
        fn start_at_login(&self) -> Result<bool, ActionError> {
            Ok(self.start_at_login)
        }
        fn set_start_at_login(&mut self, enabled: bool) -> Result<(), ActionError> {
            self.seen
                .borrow_mut()
                .calls
                .push(format!("autostart {enabled}"));
            if !self.autostart_works {
                return Err(ActionError::CurrentExe(std::io::Error::other("gone")));
            }
            self.start_at_login = enabled;
            Ok(())
        }
    }

    struct FakeRefresher(Shared);

    impl Refresh for FakeRefresher {
        fn refresh_now(&self, host: &str) {
            self.0.borrow_mut().calls.push(format!("refresh {host}"));
        }
        fn refresh_all(&self) {
            self.0.borrow_mut().calls.push("refresh all".into());
        }
    }

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn tray(
        start_at_login: bool,
        terminal: bool,
        autostart_works: bool,
    ) -> (App<FakeUi, FakeDesktop, FakeRefresher>, Shared) {
        let seen = Shared::default();
        let desktop = FakeDesktop {
            seen: seen.clone(),
            start_at_login,
            terminal,
            autostart_works,
        };
        let app = App::new(
            FakeUi(seen.clone()),
            desktop,
            FakeRefresher(seen.clone()),
            PathBuf::from("/state"),
            t0(),
        );
        (app, seen)
    }

    fn overview_with_token(left: Duration) -> Overview {
        Overview {
            registries: vec![RegistryView {
                host: HOST.into(),
                source: "key set acme".into(),
                key_set: Some("acme".into()),
                token: Some(TokenTimes {
                    received_at: t0(),
                    expires_at: t0() + left,
                    expiring_from: t0() + left / 2,
                    renew_at: t0() + left / 2,
                }),
                refreshing: false,
                error: None,
                next_attempt: None,
            }],
            problem: None,
        }
    }

    fn menu(action: Action) -> UiEvent {
        UiEvent::Menu(action.id())
    }

    #[test]
    fn it_shows_the_unconfigured_tray_at_once_then_each_overview() {
        let (mut app, seen) = tray(true, true, true);
        {
            let seen = seen.borrow();
            assert_eq!(seen.views.len(), 1);
            assert_eq!(seen.views[0].icon, IconState::Unconfigured);
            assert!(seen.views[0].start_at_login);
        }
        let overview = overview_with_token(Duration::from_secs(3600));
        let flow = app.handle(UiEvent::Overview(overview), t0());
        assert_eq!(flow, Flow::Continue);
        let seen = seen.borrow();
        let last = seen.views.last().unwrap();
        assert_eq!(last.icon, IconState::Ok);
        assert_eq!(
            last.registries[0].label,
            format!("acme · {HOST} — ok, expires in 1 h")
        );
    }

    #[test]
    fn it_sleeps_until_the_next_minute_of_a_countdown_and_redraws() {
        let (mut app, seen) = tray(false, true, true);
        assert_eq!(app.next_wake(t0()), None);
        let overview = overview_with_token(Duration::from_secs(3600 + 30));
        app.handle(UiEvent::Overview(overview), t0());
        assert_eq!(
            app.next_wake(t0()),
            Some(Duration::from_secs(30) + REDRAW_SLACK)
        );
        app.redraw(t0() + Duration::from_secs(30) + REDRAW_SLACK);
        let seen = seen.borrow();
        assert_eq!(
            seen.views.last().unwrap().registries[0].label,
            format!("acme · {HOST} — ok, expires in 1 h")
        );
    }

    #[test]
    fn refresh_items_go_to_the_refresher() {
        let (mut app, seen) = tray(false, true, true);
        app.handle(menu(Action::RefreshNow(HOST.into())), t0());
        app.handle(menu(Action::RefreshAll), t0());
        assert_eq!(
            seen.borrow().calls,
            [format!("refresh {HOST}"), "refresh all".to_string()]
        );
    }

    #[test]
    fn copy_and_open_logs_go_to_the_desktop() {
        let (mut app, seen) = tray(false, true, true);
        app.handle(menu(Action::CopyHost(HOST.into())), t0());
        app.handle(menu(Action::OpenLogs), t0());
        app.handle(menu(Action::AddRegistry), t0());
        let seen = seen.borrow();
        assert_eq!(
            seen.calls,
            [
                format!("copy {HOST}"),
                "open /state".to_string(),
                "terminal".to_string()
            ]
        );
        assert!(seen.messages.is_empty());
    }

    #[test]
    fn without_a_terminal_a_notification_says_what_to_run() {
        let (mut app, seen) = tray(false, false, true);
        app.handle(menu(Action::AddRegistry), t0());
        let seen = seen.borrow();
        assert_eq!(seen.messages.len(), 1);
        assert!(
            seen.messages[0]
                .body
                .contains("/opt/ecr/docker-credential-ecr add REGISTRY")
        );
    }

    #[test]
    fn start_at_login_toggles_and_the_check_mark_follows_the_outcome() {
        let (mut app, seen) = tray(false, true, true);
        app.handle(menu(Action::ToggleStartAtLogin), t0());
        assert!(seen.borrow().views.last().unwrap().start_at_login);
        app.handle(menu(Action::ToggleStartAtLogin), t0());
        assert!(!seen.borrow().views.last().unwrap().start_at_login);
        assert_eq!(seen.borrow().calls, ["autostart true", "autostart false"]);

        let (mut app, seen) = tray(false, true, false);
        app.handle(menu(Action::ToggleStartAtLogin), t0());
        let seen = seen.borrow();
        assert!(!seen.views.last().unwrap().start_at_login);
        assert_eq!(seen.messages.len(), 1);
        assert_eq!(seen.messages[0].summary, "Cannot change Start at login");
    }

    #[test]
    fn notices_become_notifications() {
        let (mut app, seen) = tray(false, true, true);
        let notice = Notice::RefreshFailed {
            host: HOST.into(),
            detail: "connection refused".into(),
        };
        app.handle(UiEvent::Notice(notice.clone()), t0());
        assert_eq!(seen.borrow().messages, [notices::message(&notice)]);
    }

    #[test]
    fn quit_ends_the_loop_and_unknown_items_do_nothing() {
        let (mut app, seen) = tray(false, true, true);
        assert_eq!(app.handle(UiEvent::Menu("7".into()), t0()), Flow::Continue);
        assert!(seen.borrow().calls.is_empty());
        assert_eq!(app.handle(menu(Action::Quit), t0()), Flow::Quit);
    }

    #[test]
    fn the_observer_forwards_to_the_ui_thread() {
        let (sink, inbox) = mpsc::channel();
        let forward = Forward(sink);
        let overview = overview_with_token(Duration::from_secs(60));
        forward.overview(&overview);
        let notice = Notice::ClockSkew {
            detail: "5 min ahead".into(),
        };
        forward.notice(&notice);
        assert_eq!(inbox.recv().unwrap(), UiEvent::Overview(overview));
        assert_eq!(inbox.recv().unwrap(), UiEvent::Notice(notice));
    }
}
