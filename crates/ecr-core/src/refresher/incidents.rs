//! Deciding what the user hears about: one [`Notice`] when an incident opens and one when it
//! closes, never one per retry.
//!
//! An incident is identified by its cause, not by the registry: a key set's rejected keys are
//! one incident however many registries use them (the notice names the key set, usually the
//! vendor); a wrong clock is one incident for the whole machine; any other failure is one
//! incident per registry. A registry whose failure changes cause (the network came back and
//! now the keys are rejected) joins the new incident; the old one closes silently.

use std::collections::{BTreeMap, BTreeSet};

use crate::fetch::{FetchError, FetchErrorKind};
use crate::service::ClockSkew;

use super::Notice;

/// What one incident is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    KeysRejected(String),
    Clock,
    Registry(String),
}

/// The open incidents of one refresher.
#[derive(Debug, Default)]
pub struct Incidents {
    /// The cause each failing registry is part of.
    failing: BTreeMap<String, Cause>,
    /// Every registry that joined each open incident (named when it closes).
    members: BTreeMap<Cause, BTreeSet<String>>,
    /// A clock-skew notice was given and the skew has not been seen to go away.
    skew_announced: bool,
}

impl Incidents {
    pub fn new() -> Incidents {
        Incidents::default()
    }

    /// `host`'s renewal failed with `error`: a notice if this opens an incident.
    pub fn failed(&mut self, host: &str, error: &FetchError) -> Option<Notice> {
        let cause = match (&error.kind, &error.key_set) {
            (FetchErrorKind::KeysRejected, Some(key_set)) => Cause::KeysRejected(key_set.clone()),
            (FetchErrorKind::ClockSkew, _) => Cause::Clock,
            _ => Cause::Registry(host.to_string()),
        };
        if self.failing.get(host) == Some(&cause) {
            return None;
        }
        if let Some(previous) = self.failing.insert(host.to_string(), cause.clone()) {
            self.leave(host, &previous);
        }
        let members = self.members.entry(cause.clone()).or_default();
        let opens = members.is_empty();
        members.insert(host.to_string());
        if !opens {
            return None;
        }
        let detail = error.to_string();
        match cause {
            Cause::KeysRejected(key_set) => Some(Notice::KeysRejected {
                key_set,
                hosts: vec![host.to_string()],
                detail,
            }),
            Cause::Clock if self.skew_announced => None,
            Cause::Clock => {
                self.skew_announced = true;
                Some(Notice::ClockSkew { detail })
            }
            Cause::Registry(host) => Some(Notice::RefreshFailed { host, detail }),
        }
    }

    /// `host`'s renewal succeeded (`skew` as its response showed): notices for the incidents
    /// this closes or opens.
    pub fn succeeded(&mut self, host: &str, skew: Option<ClockSkew>) -> Vec<Notice> {
        let mut notices = Vec::new();
        match skew {
            Some(skew) if !self.skew_announced => {
                self.skew_announced = true;
                notices.push(Notice::ClockSkew {
                    detail: format!(
                        "{skew}: tokens still work, but AWS rejects requests signed more than 15 minutes off; set the clock (enable NTP)"
                    ),
                });
            }
            Some(_) => {}
            None => {
                if !self.members.contains_key(&Cause::Clock) {
                    self.skew_announced = false;
                }
            }
        }
        if let Some(cause) = self.failing.remove(host)
            && let Some(hosts) = self.leave(host, &cause)
        {
            notices.push(Notice::Recovered {
                hosts: hosts.into_iter().collect(),
                key_set: match cause {
                    Cause::KeysRejected(key_set) => Some(key_set),
                    _ => None,
                },
            });
        }
        notices
    }

    /// `host` is no longer looked after (its binding was removed): its incident closes
    /// without a notice.
    pub fn forget(&mut self, host: &str) {
        if let Some(cause) = self.failing.remove(host) {
            let _ = self.leave(host, &cause);
        }
    }

    /// Takes `host` out of `cause`'s incident; returns all its members if it closed.
    fn leave(&mut self, host: &str, cause: &Cause) -> Option<BTreeSet<String>> {
        let still_failing = self.failing.values().any(|c| c == cause);
        if still_failing {
            return None;
        }
        let members = self.members.remove(cause);
        members.map(|mut m| {
            m.insert(host.to_string());
            m
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rejected(key_set: &str) -> FetchError {
        FetchError::new(FetchErrorKind::KeysRejected, "UnrecognizedClientException")
            .for_key_set(Some(key_set))
    }

    fn unreachable() -> FetchError {
        FetchError::new(FetchErrorKind::Unreachable, "connection refused")
    }

    #[test]
    fn retries_of_the_same_failure_give_one_notice() {
        let mut incidents = Incidents::new();
        let first = incidents.failed("a", &unreachable());
        assert!(matches!(first, Some(Notice::RefreshFailed { ref host, .. }) if host == "a"));
        for _ in 0..5 {
            assert_eq!(incidents.failed("a", &unreachable()), None);
        }
        assert_eq!(
            incidents.succeeded("a", None),
            vec![Notice::Recovered {
                hosts: vec!["a".into()],
                key_set: None
            }]
        );
        assert!(
            incidents.succeeded("a", None).is_empty(),
            "nothing to recover"
        );
    }

    #[test]
    fn a_key_set_rejected_on_two_registries_is_one_incident_named_after_it() {
        let mut incidents = Incidents::new();
        let notice = incidents.failed("a", &rejected("acme"));
        assert!(matches!(
            notice,
            Some(Notice::KeysRejected { ref key_set, .. }) if key_set == "acme"
        ));
        assert_eq!(incidents.failed("b", &rejected("acme")), None);
        assert_eq!(incidents.failed("a", &rejected("acme")), None);
        assert!(incidents.succeeded("a", None).is_empty(), "b still fails");
        assert_eq!(
            incidents.succeeded("b", None),
            vec![Notice::Recovered {
                hosts: vec!["a".into(), "b".into()],
                key_set: Some("acme".into())
            }]
        );
    }

    #[test]
    fn two_vendors_keys_rejected_are_two_incidents() {
        let mut incidents = Incidents::new();
        assert!(incidents.failed("a", &rejected("acme")).is_some());
        assert!(incidents.failed("b", &rejected("globex")).is_some());
    }

    #[test]
    fn a_failure_that_changes_cause_joins_the_new_incident() {
        let mut incidents = Incidents::new();
        assert!(incidents.failed("a", &unreachable()).is_some());
        let notice = incidents.failed("a", &rejected("acme"));
        assert!(matches!(notice, Some(Notice::KeysRejected { .. })));
        assert_eq!(
            incidents.failed("a", &unreachable()),
            Some(Notice::RefreshFailed {
                host: "a".into(),
                detail: unreachable().to_string()
            })
        );
    }

    #[test]
    fn clock_skew_is_announced_once_until_it_goes_away() {
        let mut incidents = Incidents::new();
        let skew = ClockSkew {
            local_ahead: true,
            by: Duration::from_secs(600),
        };
        let notices = incidents.succeeded("a", Some(skew));
        assert!(matches!(notices.as_slice(), [Notice::ClockSkew { .. }]));
        assert!(incidents.succeeded("b", Some(skew)).is_empty());
        assert!(incidents.succeeded("a", None).is_empty());
        assert_eq!(
            incidents.succeeded("a", Some(skew)).len(),
            1,
            "skew came back"
        );
        let signature_expired = FetchError::new(FetchErrorKind::ClockSkew, "Signature expired");
        assert_eq!(
            incidents.failed("a", &signature_expired),
            None,
            "already announced"
        );
    }

    #[test]
    fn a_forgotten_registry_closes_its_incident_silently() {
        let mut incidents = Incidents::new();
        assert!(incidents.failed("a", &unreachable()).is_some());
        incidents.forget("a");
        assert!(incidents.succeeded("a", None).is_empty());
        assert!(
            incidents.failed("a", &unreachable()).is_some(),
            "a new incident"
        );
    }
}
