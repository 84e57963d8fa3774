//! The texts of the tray's notifications: each refresher [`Notice`] (one per incident) and the
//! few things a menu action must tell the user, as a summary, a body and the icon shown with
//! them. Pure functions; [`crate::notifier`] sends them.

use ecr_core::refresher::Notice;

use crate::model::{IconState, short_reason};

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub summary: String,
    pub body: String,
    pub icon: IconState,
}

/// The notification for a refresher notice.
pub fn message(notice: &Notice) -> Message {
    match notice {
        Notice::KeysRejected { key_set, hosts, .. } => Message {
            summary: format!("Keys rejected: {key_set}"),
            body: format!(
                "AWS rejected the keys of {key_set}, used by {}. Ask the vendor for new keys, \
                 then run `docker-credential-ecr add {} --name {key_set}` again.",
                list(hosts),
                hosts.first().map_or("REGISTRY", String::as_str),
            ),
            icon: IconState::Error,
        },
        Notice::RefreshFailed { host, detail } => Message {
            summary: format!("Refresh failed: {host}"),
            body: first_line(detail),
            icon: IconState::Error,
        },
        Notice::Recovered { hosts, key_set } => Message {
            summary: format!("Recovered: {}", list(hosts)),
            body: match key_set {
                Some(key_set) => format!("The keys of {key_set} work again: tokens are renewed."),
                None => "Tokens are renewed again.".to_string(),
            },
            icon: IconState::Ok,
        },
        Notice::ClockSkew { detail } => Message {
            summary: "Clock skew".to_string(),
            body: format!(
                "{} Tokens may be refused or expire early: set this machine's clock.",
                sentence(detail)
            ),
            icon: IconState::Expiring,
        },
    }
}

/// "Add a registry…" found no terminal to run `add` in.
pub fn no_terminal(helper: &str) -> Message {
    Message {
        summary: "Add a registry".to_string(),
        body: format!("No terminal found. Run this in one: {helper} add REGISTRY"),
        icon: IconState::Unconfigured,
    }
}

/// A menu action failed: `what` says which ("Cannot copy the registry host").
pub fn action_failed(what: &str, reason: &str) -> Message {
    Message {
        summary: what.to_string(),
        body: short_reason(reason),
        icon: IconState::Error,
    }
}

fn list(hosts: &[String]) -> String {
    if hosts.is_empty() {
        "no registry".to_string()
    } else {
        hosts.join(", ")
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    line.unwrap_or("unknown reason").to_string()
}

/// `text`'s first line, ending with a full stop.
fn sentence(text: &str) -> String {
    let mut line = first_line(text);
    if !line.ends_with(['.', '!', '?']) {
        line.push('.');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    const OTHER: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

    #[test]
    fn rejected_keys_name_the_key_set_the_registries_and_the_fix() {
        let m = message(&Notice::KeysRejected {
            key_set: "acme".into(),
            hosts: vec![HOST.into(), OTHER.into()],
            detail:
                "UnrecognizedClientException: The security token included in the request is invalid"
                    .into(),
        });
        assert_eq!(m.summary, "Keys rejected: acme");
        assert!(m.body.contains(&format!("{HOST}, {OTHER}")), "{}", m.body);
        assert!(m.body.contains("Ask the vendor for new keys"), "{}", m.body);
        assert!(
            m.body
                .contains(&format!("docker-credential-ecr add {HOST} --name acme")),
            "{}",
            m.body
        );
        assert_eq!(m.icon, IconState::Error);
    }

    #[test]
    fn a_failed_refresh_says_why_in_one_line() {
        let m = message(&Notice::RefreshFailed {
            host: HOST.into(),
            detail: "cannot reach ECR: connection refused\n(caused by ...)".into(),
        });
        assert_eq!(m.summary, format!("Refresh failed: {HOST}"));
        assert_eq!(m.body, "cannot reach ECR: connection refused");
        assert_eq!(m.icon, IconState::Error);
    }

    #[test]
    fn recovery_names_the_registries() {
        let m = message(&Notice::Recovered {
            hosts: vec![HOST.into()],
            key_set: None,
        });
        assert_eq!(m.summary, format!("Recovered: {HOST}"));
        assert_eq!(m.icon, IconState::Ok);
        let m = message(&Notice::Recovered {
            hosts: vec![HOST.into(), OTHER.into()],
            key_set: Some("acme".into()),
        });
        assert_eq!(m.summary, format!("Recovered: {HOST}, {OTHER}"));
        assert!(m.body.contains("acme"));
    }

    #[test]
    fn clock_skew_says_how_far_off() {
        let m = message(&Notice::ClockSkew {
            detail: "this machine's clock is 2 h 5 min behind AWS's".into(),
        });
        assert_eq!(m.summary, "Clock skew");
        assert!(
            m.body
                .starts_with("this machine's clock is 2 h 5 min behind AWS's. "),
            "{}",
            m.body
        );
    }

    #[test]
    fn action_messages() {
        let m = no_terminal("/usr/bin/docker-credential-ecr");
        assert!(
            m.body
                .contains("/usr/bin/docker-credential-ecr add REGISTRY")
        );
        let m = action_failed("Cannot copy the registry host", "no display\nmore");
        assert_eq!(m.summary, "Cannot copy the registry host");
        assert_eq!(m.body, "no display");
    }
}
