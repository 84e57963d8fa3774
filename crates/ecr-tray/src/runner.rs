//! The UI thread: starts the tray, the notification thread and the refresher, then waits for
//! events and hands them to the [`App`] until "Quit", and shuts the refresher down.
//!
//! # How it waits
//!
//! - **Linux, `ksni` backend** (default): the tray lives on ksni's own D-Bus thread, so the
//!   UI thread only blocks on one channel (menu clicks, overviews, notices) with a timeout to
//!   the next countdown change ([`App::next_wake`]); nothing else wakes it.
//! - **Linux, `appindicator` backend** (feature): GTK owns the menu, so the UI thread blocks in
//!   the GLib main context instead; senders wake it ([`GlibSink`]) and a GLib timeout source
//!   stands for the countdown.
//! - **macOS and Windows**: the tray needs the platform's event loop on the main thread:
//!   `tao`'s, with user events carrying [`UiEvent`]s and `ControlFlow::WaitUntil` for the
//!   countdown. This path is written to tray-icon's documented pattern but is not built or
//!   tested in this project's CI (Linux only).

use std::time::{Duration, SystemTime};

use anyhow::Context;
use ecr_core::Paths;
use ecr_core::refresher::RefresherHandle;
use tray_icon::TrayIconEvent;
use tray_icon::menu::MenuEvent;

use crate::actions::SystemDesktop;
use crate::app::{App, EventSink, Flow, Forward, UiEvent};
use crate::model::{IconState, TrayView};
use crate::notifier::Notifier;
use crate::ui::TrayUi;

/// Sends menu clicks to `sink`, and drops tray icon clicks (the menu is all there is).
fn route_toolkit_events(sink: impl EventSink) {
    MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
        sink.send(UiEvent::Menu(event.id.0));
    }));
    // Without a handler these would pile up in tray-icon's unbounded channel.
    TrayIconEvent::set_event_handler(Some(|_event: TrayIconEvent| {}));
}

/// The tray before the refresher's first overview: nothing known yet.
fn initial_view() -> TrayView {
    TrayView {
        icon: IconState::Unconfigured,
        problem: None,
        registries: Vec::new(),
        start_at_login: false,
    }
}

/// Starts the tray, then the refresher reporting to `sink`.
fn start(
    paths: &Paths,
    sink: impl EventSink,
) -> anyhow::Result<App<TrayUi, SystemDesktop, RefresherHandle>> {
    let notifier = Notifier::spawn(paths.state_dir().join("icons"))
        .context("cannot start the notification thread")?;
    let ui = TrayUi::new(&initial_view(), notifier)?;
    tracing::info!("tray ready");
    let refresher = RefresherHandle::spawn(paths.clone(), Forward(sink))?;
    Ok(App::new(
        ui,
        SystemDesktop::new(),
        refresher,
        paths.state_dir().to_path_buf(),
        SystemTime::now(),
    ))
}

/// How long the tray stays on the bus after "Quit": the tray host's D-Bus call that delivered
/// the click is answered by ksni after the click is handed to us, and a tray that leaves the
/// bus at once leaves that call unanswered.
const QUIT_GRACE: Duration = Duration::from_millis(100);

/// Tears down in order: the tray goes first (the user sees the quit at once), then the
/// refresher finishes a renewal under way.
fn finish(app: App<TrayUi, SystemDesktop, RefresherHandle>) {
    let (ui, refresher) = app.into_parts();
    std::thread::sleep(QUIT_GRACE);
    drop(ui);
    refresher.shutdown();
    tracing::info!("quit");
}

#[cfg(target_os = "linux")]
pub use linux::run;

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
    use std::time::{Duration, SystemTime};

    use ecr_core::Paths;

    use super::{Flow, UiEvent};

    /// Runs the tray until "Quit".
    pub fn run(paths: &Paths) -> anyhow::Result<()> {
        #[cfg(feature = "appindicator")]
        gtk::init().map_err(|e| anyhow::anyhow!("cannot start GTK: {e}"))?;
        let (sender, inbox) = mpsc::channel();
        let sink = sink(sender);
        super::route_toolkit_events(sink.clone());
        let mut app = super::start(paths, sink)?;
        loop {
            let timeout = app.next_wake(SystemTime::now());
            match wait(&inbox, timeout) {
                Ok(event) => {
                    if app.handle(event, SystemTime::now()) == Flow::Quit {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => app.redraw(SystemTime::now()),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        super::finish(app);
        Ok(())
    }

    #[cfg(not(feature = "appindicator"))]
    fn sink(sender: mpsc::Sender<UiEvent>) -> mpsc::Sender<UiEvent> {
        sender
    }

    /// The next event, or `Timeout` once `timeout` has passed without one.
    #[cfg(not(feature = "appindicator"))]
    fn wait(
        inbox: &Receiver<UiEvent>,
        timeout: Option<Duration>,
    ) -> Result<UiEvent, RecvTimeoutError> {
        match timeout {
            Some(timeout) => inbox.recv_timeout(timeout),
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
        }
    }

    #[cfg(feature = "appindicator")]
    fn sink(sender: mpsc::Sender<UiEvent>) -> GlibSink {
        GlibSink(sender)
    }

    /// Sends to the UI thread and wakes its GLib main context.
    #[cfg(feature = "appindicator")]
    #[derive(Clone)]
    pub struct GlibSink(mpsc::Sender<UiEvent>);

    #[cfg(feature = "appindicator")]
    impl super::EventSink for GlibSink {
        fn send(&self, event: UiEvent) {
            let _ = self.0.send(event);
            gtk::glib::MainContext::default().wakeup();
        }
    }

    /// Runs GTK until an event arrives or `timeout` passes.
    #[cfg(feature = "appindicator")]
    fn wait(
        inbox: &Receiver<UiEvent>,
        timeout: Option<Duration>,
    ) -> Result<UiEvent, RecvTimeoutError> {
        use gtk::glib;
        use std::sync::mpsc::TryRecvError;
        use std::time::Instant;

        let context = glib::MainContext::default();
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            match inbox.try_recv() {
                Ok(event) => return Ok(event),
                Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {}
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err(RecvTimeoutError::Timeout),
                },
                None => None,
            };
            // A timeout source ends the blocking iteration at the deadline.
            let timer = left.map(|left| {
                let source = glib::timeout_source_new(left, None, glib::Priority::DEFAULT, || {
                    glib::ControlFlow::Break
                });
                source.attach(Some(&context));
                source
            });
            context.iteration(true);
            if let Some(timer) = timer {
                timer.destroy();
            }
        }
    }
}

#[cfg(any(target_os = "macos", target_os = "windows"))]
pub use tao_loop::run;

/// Not built or tested in this project's CI: see the module docs.
#[cfg(any(target_os = "macos", target_os = "windows"))]
mod tao_loop {
    use std::sync::Mutex;
    use std::time::{Instant, SystemTime};

    use ecr_core::Paths;
    use tao::event::{Event, StartCause};
    use tao::event_loop::{ControlFlow, EventLoopBuilder, EventLoopProxy};

    use super::{EventSink, Flow, UiEvent};

    /// Wakes tao's event loop with a user event.
    struct ProxySink(Mutex<EventLoopProxy<UiEvent>>);

    impl EventSink for ProxySink {
        fn send(&self, event: UiEvent) {
            if let Ok(proxy) = self.0.lock() {
                let _ = proxy.send_event(event);
            }
        }
    }

    /// Runs the tray until "Quit"; tao's loop then exits the process with status 0.
    pub fn run(paths: &Paths) -> anyhow::Result<()> {
        #[allow(unused_mut)]
        let mut event_loop = EventLoopBuilder::<UiEvent>::with_user_event().build();
        #[cfg(target_os = "macos")]
        {
            use tao::platform::macos::{ActivationPolicy, EventLoopExtMacOS};
            // A menu bar extra: no Dock icon, no app menu.
            event_loop.set_activation_policy(ActivationPolicy::Accessory);
        }
        let sink = |event_loop: &tao::event_loop::EventLoop<UiEvent>| {
            ProxySink(Mutex::new(event_loop.create_proxy()))
        };
        super::route_toolkit_events(sink(&event_loop));
        let refresher_sink = sink(&event_loop);
        let paths = paths.clone();
        let mut pending = Some(refresher_sink);
        let mut app = None;
        event_loop.run(move |event, _, control_flow| {
            match event {
                // tray-icon wants the loop running before the tray is made.
                Event::NewEvents(StartCause::Init) => {
                    let Some(sink) = pending.take() else { return };
                    match super::start(&paths, sink) {
                        Ok(started) => app = Some(started),
                        Err(e) => {
                            let line = crate::one_line(&e);
                            tracing::error!("{line}");
                            eprintln!("ecr-tray: {line}");
                            *control_flow = ControlFlow::ExitWithCode(1);
                            return;
                        }
                    }
                }
                Event::UserEvent(event) => {
                    if let Some(running) = app.as_mut() {
                        if running.handle(event, SystemTime::now()) == Flow::Quit {
                            if let Some(running) = app.take() {
                                super::finish(running);
                            }
                            *control_flow = ControlFlow::Exit;
                            return;
                        }
                    }
                }
                Event::NewEvents(StartCause::ResumeTimeReached { .. }) => {
                    if let Some(running) = app.as_mut() {
                        running.redraw(SystemTime::now());
                    }
                }
                _ => {}
            }
            if let Some(running) = app.as_ref() {
                *control_flow = match running.next_wake(SystemTime::now()) {
                    Some(wait) => ControlFlow::WaitUntil(Instant::now() + wait),
                    None => ControlFlow::Wait,
                };
            }
        })
    }
}
