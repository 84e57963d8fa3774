//! The notifications apps sent on the desktop's bus, as a bus monitor saw them.
//!
//! `busctl monitor --json=short` writes one JSON object per message it sees, flushed as it goes;
//! this module reads the `Notify` method calls out of that log. A notification daemon (dunst)
//! answers them and draws them, but the bus is the record: every call counts, whatever the daemon
//! made of it.

use serde_json::Value;

/// The interface the monitor watches.
pub const INTERFACE: &str = "org.freedesktop.Notifications";

/// One `Notify` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub app_name: String,
    pub summary: String,
    pub body: String,
}

/// Every `Notify` call in a monitor log, oldest first. Lines that are not method calls of
/// [`INTERFACE`] (and a possibly half-written last line) are skipped.
pub fn parse_monitor_log(log: &str) -> Vec<Notification> {
    method_calls(log)
        .filter(|message| message["member"] == "Notify")
        .filter_map(|message| {
            // Notify(app_name s, replaces_id u, app_icon s, summary s, body s, actions as,
            //        hints a{sv}, expire_timeout i)
            let args = message["payload"]["data"].as_array()?;
            let text = |i: usize| args.get(i)?.as_str().map(str::to_string);
            Some(Notification {
                app_name: text(0)?,
                summary: text(3)?,
                body: text(4)?,
            })
        })
        .collect()
}

/// The names of the methods of [`INTERFACE`] called, in order (the fixture's own readiness
/// probe included).
pub fn called_methods(log: &str) -> Vec<String> {
    method_calls(log)
        .filter_map(|message| message["member"].as_str().map(str::to_string))
        .collect()
}

fn method_calls(log: &str) -> impl Iterator<Item = Value> + '_ {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["type"] == "method_call" && message["interface"] == INTERFACE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_calls_are_read_from_a_busctl_monitor_log() {
        // Lines as busctl 252 wrote them (shortened), a probe call and a cut-off last line.
        let log = concat!(
            r#"{"type":"method_call","interface":"org.freedesktop.Notifications","member":"GetServerInformation","payload":{"type":"","data":[]}}"#,
            "\n",
            r#"{"type":"method_call","interface":"org.freedesktop.Notifications","member":"Notify","payload":{"type":"susssasa{sv}i","data":["ECR credentials",0,"","Keys rejected: acme","line \"one\"\ntwo",[],{"urgency":{"type":"y","data":2}},5000]}}"#,
            "\n",
            r#"{"type":"method_return","member":null}"#,
            "\n",
            r#"{"type":"method_call","interface":"org.freedesktop.Notifications","member":"Notify","payload":{"type":"#,
        );
        assert_eq!(
            parse_monitor_log(log),
            [Notification {
                app_name: "ECR credentials".into(),
                summary: "Keys rejected: acme".into(),
                body: "line \"one\"\ntwo".into(),
            }]
        );
        assert_eq!(called_methods(log), ["GetServerInformation", "Notify"]);
    }
}
