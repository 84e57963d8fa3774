//! `status`: one row per binding: registry, source (key set with its masked key id, profile,
//! or default chain), role, token state and time left, key age; exit 1 when one is in error;
//! then one per registry alias (the text only: `--json` lists bindings).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use ecr_core::bindings::{BoundSource, RegistryMatch};
use ecr_core::config::{ProductConfig, SecretLocation};
use ecr_core::key_store::KeySetSecrets;
use ecr_core::onboarding::mask_key_id;
use ecr_core::state::{StateStore, at_millis};
use ecr_core::{Freshness, Paths, Registry};
use serde::Serialize;

use super::humanize;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One binding's state.
#[derive(Debug, Serialize)]
struct Row {
    registry: String,
    source: String,
    role: Option<String>,
    token: String,
    expires_in_secs: Option<u64>,
    key_age_days: Option<u64>,
    last_refresh_secs_ago: Option<u64>,
    error: Option<String>,
}

pub fn run(paths: &Paths, args: &StatusArgs) -> ExitCode {
    let service = match crate::verbs::service(paths) {
        Ok(service) => service,
        Err(failure) => {
            eprintln!("docker-credential-ecr: {}", failure.stdout_line());
            return ExitCode::FAILURE;
        }
    };
    let secrets = KeySetSecrets::new(paths, ecr_core::keychain::KeychainAccess::UNATTENDED);
    let config = service.config();
    let cached_hosts = service.list();
    let states = StateStore::new(paths.registry_state_dir());
    let now = SystemTime::now();
    // One read of each key set's secret, however many bindings use it.
    let mut secret_problems: BTreeMap<String, Option<String>> = BTreeMap::new();
    let rows: Vec<Row> = config
        .bindings
        .iter()
        .map(|binding| {
            let mut row = Row {
                registry: binding.registry.to_string(),
                source: binding.source.to_string(),
                role: None,
                token: "none cached".into(),
                expires_in_secs: None,
                key_age_days: None,
                last_refresh_secs_ago: None,
                error: None,
            };
            describe_source(
                config,
                &binding.source,
                &mut |name, location| {
                    secret_problems
                        .entry(name.to_string())
                        .or_insert_with(|| secret_problem(&secrets, name, location))
                        .clone()
                },
                now,
                &mut row,
            );
            // The token: the host's own (which may be an entry it shares with the other
            // registries of its identity and endpoint), or for a pattern the first of its hosts
            // with a cached token.
            let hosts: Vec<Registry> = match &binding.registry {
                RegistryMatch::Host(host) => Registry::parse(host).ok().into_iter().collect(),
                RegistryMatch::AnyRegion(_) => cached_hosts
                    .iter()
                    .filter_map(|h| Registry::parse(h).ok())
                    .filter(|r| binding.registry.matches(r))
                    .collect(),
            };
            let known: Vec<String> = hosts.iter().map(|r| r.host().to_string()).collect();
            record_state(&states, &known, now, &mut row);
            for registry in hosts {
                if let Ok(Some((_, token))) = service.cached(&registry) {
                    let left = token.remaining(now);
                    let state = match service.policy().assess(&token, now) {
                        Freshness::Fresh => "valid",
                        Freshness::DueForRefresh => "due for refresh",
                        Freshness::Unusable => "expired",
                    };
                    row.token = format!("{state}, expires in {}", humanize(left));
                    row.expires_in_secs = Some(left.as_secs());
                    break;
                }
            }
            row
        })
        .collect();
    let in_error = rows.iter().any(|r| r.error.is_some());
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
        );
    } else if rows.is_empty() {
        println!("no registry is bound: `docker-credential-ecr add REGISTRY` binds one");
    } else {
        for row in &rows {
            println!("{}", row.registry);
            println!("  source: {}", row.source);
            if let Some(role) = &row.role {
                println!("  role:   {role}");
            }
            println!("  token:  {}", row.token);
            if let Some(ago) = row.last_refresh_secs_ago {
                println!("  last refresh: {} ago", humanize(Duration::from_secs(ago)));
            }
            if let Some(days) = row.key_age_days {
                println!("  keys:   added {days} days ago");
            }
            if let Some(error) = &row.error {
                println!("  error:  {error}");
            }
        }
    }
    if !args.json {
        print_aliases(config);
    }
    if in_error {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One line per registry alias: the host and the registry whose token serves it.
fn print_aliases(config: &ProductConfig) {
    for (alias, target) in &config.aliases {
        println!("{alias}");
        println!("  alias of: {target}");
    }
}

fn describe_source(
    config: &ProductConfig,
    source: &BoundSource,
    secret_problem: &mut dyn FnMut(&str, SecretLocation) -> Option<String>,
    now: SystemTime,
    row: &mut Row,
) {
    let BoundSource::KeySet(name) = source else {
        return;
    };
    let Some(key_set) = config.key_sets.get(name) else {
        row.error = Some(format!(
            "key set {name} does not exist: run `docker-credential-ecr add` again"
        ));
        return;
    };
    row.source = format!("key set {name} ({})", mask_key_id(&key_set.access_key_id));
    row.role = key_set.role.as_ref().map(|r| match &r.external_id {
        Some(_) => format!("{} (with external id)", r.arn),
        None => r.arn.clone(),
    });
    let created = UNIX_EPOCH + Duration::from_secs(key_set.created);
    row.key_age_days = now
        .duration_since(created)
        .ok()
        .map(|d| d.as_secs() / 86_400);
    if let Some(problem) = secret_problem(name, key_set.secret_location) {
        row.error = Some(problem);
    }
}

/// What is wrong with key set `name`'s secret in `location`, if anything.
fn secret_problem(secrets: &KeySetSecrets, name: &str, location: SecretLocation) -> Option<String> {
    match secrets.get(name, location) {
        Ok(Some(_)) => None,
        Ok(None) => Some(format!(
            "the secret key of {name} is missing from {}: run `docker-credential-ecr add` again",
            secrets.store(location).describe()
        )),
        Err(e) => Some(e.to_string()),
    }
}

/// The most recent fetch outcome among `hosts`; a failure newer than the last success puts the
/// binding in error.
fn record_state(states: &StateStore, hosts: &[String], now: SystemTime, row: &mut Row) {
    let mut latest_refresh: Option<u64> = None;
    for host in hosts {
        let state = states.load(host);
        if let Some(t) = state.last_refresh_ms {
            latest_refresh = Some(latest_refresh.map_or(t, |l| l.max(t)));
        }
        if state.in_error() {
            let message = state.last_error.unwrap_or_default();
            // Said once; the host only when the binding (a pattern) has several.
            row.error.get_or_insert(match hosts.len() {
                1 => message,
                _ => format!("{host}: {message}"),
            });
        }
    }
    row.last_refresh_secs_ago = latest_refresh
        .and_then(|t| now.duration_since(at_millis(t)).ok())
        .map(|d| d.as_secs());
}
