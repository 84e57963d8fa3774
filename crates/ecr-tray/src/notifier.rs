//! Shows notifications off the UI thread: a D-Bus call to the notification daemon (or the
//! OS's equivalent) can take as long as the daemon wants, so messages go through a channel to
//! one thread that sends them in order. Each shown message is logged as `notification:
//! <summary>`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use crate::icons;
use crate::model::APP_TITLE;
use crate::notices::Message;

/// The sending side of the notification thread; the thread ends when this is dropped.
pub struct Notifier {
    messages: mpsc::Sender<Message>,
}

impl Notifier {
    /// Starts the thread. Icons are written to `icon_dir` for daemons that load them by path.
    pub fn spawn(icon_dir: PathBuf) -> io::Result<Notifier> {
        let (messages, inbox) = mpsc::channel::<Message>();
        thread::Builder::new()
            .name("notifier".into())
            .spawn(move || {
                for message in inbox {
                    show(&message, &icon_dir);
                }
            })?;
        Ok(Notifier { messages })
    }

    /// Queues `message`; never blocks.
    pub fn send(&self, message: Message) {
        if self.messages.send(message).is_err() {
            tracing::warn!("the notification thread has stopped");
        }
    }
}

fn show(message: &Message, icon_dir: &Path) {
    let mut notification = notify_rust::Notification::new();
    notification
        .appname(APP_TITLE)
        .summary(&message.summary)
        .body(&message.body);
    match icons::file(message.icon, icon_dir) {
        Ok(path) => {
            notification.icon(&path.to_string_lossy());
        }
        Err(e) => tracing::warn!("{e}"),
    }
    match notification.show() {
        Ok(_) => tracing::info!("notification: {}", message.summary),
        Err(e) => tracing::warn!("cannot show the notification {:?}: {e}", message.summary),
    }
}
