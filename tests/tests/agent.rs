//! The headless refresher, `docker-credential-ecr agent`, against the fake ECR: it renews
//! tokens at half-life so that no `get` waits on AWS, makes exactly the calls it logs, reports
//! rejected keys once however often it retries, and notices config changes and wall-clock
//! jumps without polling.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ecr_e2e::fake::KnobsPatch;
use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{
    EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, Helper, OTHER_ACCESS_KEY_ID, OTHER_SECRET_ACCESS_KEY,
    Sandbox, helper_bin,
};
use ecr_e2e::system::skip_unless_root;

/// A sandbox with a fake ECR and the example registry bound to key set `acme` (secret in the
/// file store: the agent's hosts often have no keychain).
struct World {
    sandbox: Sandbox,
    fake: FakeEcr,
}

impl World {
    /// Bound unverified: no token is cached, the agent fetches the first itself.
    fn start(fake: FakeEcr) -> World {
        Self::bound(fake, &["--store", "file", "--no-verify"])
    }

    /// Bound by a verifying `add`, which caches the token it fetched (one call).
    fn start_verified(fake: FakeEcr) -> World {
        Self::bound(fake, &["--store", "file"])
    }

    fn bound(fake: FakeEcr, add_args: &[&str]) -> World {
        let world = World {
            sandbox: Sandbox::new(),
            fake,
        };
        world
            .helper()
            .add_example_keys(EXAMPLE_REGISTRY, "acme", add_args)
            .assert_ok();
        world
    }

    fn helper(&self) -> Helper {
        self.sandbox
            .helper()
            .env("AWS_ENDPOINT_URL_ECR", self.fake.url())
    }

    fn calls(&self) -> u64 {
        self.fake.stats().unwrap().calls
    }

    fn reject_keys(&self, rejected: bool) {
        let keys = if rejected {
            vec![EXAMPLE_ACCESS_KEY_ID.to_string()]
        } else {
            Vec::new()
        };
        self.fake
            .set_knobs(&KnobsPatch {
                rejected_keys: Some(keys),
                ..Default::default()
            })
            .unwrap();
    }

    fn agent(&self) -> Agent {
        let log = self.sandbox.root().join("agent.stderr");
        let child = Command::new(helper_bin())
            .arg("agent")
            .env_clear()
            .envs(self.sandbox.base_env())
            .env("AWS_ENDPOINT_URL_ECR", self.fake.url())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("spawn the agent");
        Agent { child, log }
    }
}

/// A running agent, stopped with SIGTERM on drop.
struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// Waits until the log holds `needle` `n` times; panics with the log after `timeout`.
    fn wait_for(&self, needle: &str, n: usize, timeout: Duration) {
        let started = Instant::now();
        while self.count(needle) < n {
            assert!(
                started.elapsed() < timeout,
                "no {n} × {needle:?} within {timeout:?}; agent log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the agent with SIGTERM; returns whether it exited 0 within 10 s.
    fn stop(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn with_the_agent_running_no_get_waits_on_aws_and_every_call_is_its_own() {
    // 20-second tokens, answered in 2 s: a `get` that fetched would take 2 s.
    let fake = FakeEcr::builder()
        .lifetime_secs(20)
        .latency_ms(2000)
        .start()
        .unwrap();
    let world = World::start(fake);
    let before = world.calls();
    let mut agent = world.agent();
    agent.wait_for("refreshed token", 1, Duration::from_secs(15));

    let soak = Duration::from_secs(90);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut gets = 0;
    while started.elapsed() < soak {
        let run = world.helper().get(EXAMPLE_REGISTRY);
        run.assert_ok();
        slowest = slowest.max(run.elapsed);
        gets += 1;
        assert!(
            run.elapsed < Duration::from_millis(500),
            "get #{gets} took {:?} at {:?} into the run; agent log:\n{}",
            run.elapsed,
            started.elapsed(),
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(1000));
    }
    // A renewal may be under way: let it land before counting.
    std::thread::sleep(Duration::from_millis(2500));
    let refreshes = agent.count("refreshed token");
    let calls = world.calls() - before;
    println!(
        "{gets} gets over {soak:?}, slowest {slowest:?}; the agent refreshed {refreshes} times, the fake saw {calls} calls"
    );
    assert_eq!(
        calls,
        refreshes as u64,
        "every call to ECR is one of the agent's own refreshes; agent log:\n{}",
        agent.log()
    );
    // 20 s tokens renewed at half-life take ~12 s a cycle (10 s + 2 s answer): 1 + 90/12.
    assert!(
        (6..=10).contains(&refreshes),
        "{refreshes} refreshes in ~95 s of 20-second tokens; agent log:\n{}",
        agent.log()
    );
    assert_eq!(agent.count("refresh failed"), 0, "{}", agent.log());
    assert!(agent.stop(), "the agent exits 0 on SIGTERM");
    assert!(agent.log().contains("refresher stopped"), "{}", agent.log());
}

#[test]
fn rejected_keys_are_reported_once_however_often_they_are_retried_and_a_config_change_retries_at_once()
 {
    let fake = FakeEcr::builder().lifetime_secs(3600).start().unwrap();
    let world = World::start(fake);
    world.reject_keys(true);
    let agent = world.agent();
    // Backoff for keys that need a person: 5 s, then 10 s (±20 %).
    agent.wait_for("refresh failed", 2, Duration::from_secs(20));
    assert_eq!(
        agent.count("keys rejected"),
        1,
        "one report for the incident, not one per retry; agent log:\n{}",
        agent.log()
    );
    assert!(
        agent.log().contains("acme"),
        "names the key set: {}",
        agent.log()
    );

    // The vendor issued new keys (here: accepted again) and the user re-ran `add`: any write of
    // the config retries at once rather than after the backoff.
    world.reject_keys(false);
    let config = world
        .sandbox
        .config_home()
        .join("docker-credential-ecr/config.json");
    let text = std::fs::read(&config).unwrap();
    let staged = config.with_extension("json.new");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, &config).unwrap();
    let changed = Instant::now();
    agent.wait_for("refreshed token", 1, Duration::from_secs(5));
    println!("renewed {:?} after the config change", changed.elapsed());
    assert_eq!(agent.count("recovered"), 1, "{}", agent.log());
    assert_eq!(agent.count("keys rejected"), 1, "{}", agent.log());
}

#[test]
fn a_registry_added_while_the_agent_runs_is_kept_fresh_without_a_restart() {
    let fake = FakeEcr::builder().lifetime_secs(3600).start().unwrap();
    let world = World::start(fake);
    let agent = world.agent();
    agent.wait_for("refreshed token", 1, Duration::from_secs(10));
    let other = "210987654321.dkr.ecr.eu-central-1.amazonaws.com";
    world
        .helper()
        .run(
            &[
                "add",
                other,
                "--name",
                "globex",
                "--access-key-id",
                "AKIAI44QH8DHBEXAMPLE",
                "--store",
                "file",
                "--no-configure",
                // Verified, its token would be cached by `add` and not due for half an hour.
                "--no-verify",
            ],
            b"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        )
        .assert_ok();
    agent.wait_for(
        &format!("refreshed token registry={other}"),
        1,
        Duration::from_secs(10),
    );
}

#[test]
fn a_wall_clock_change_wakes_the_agent_to_reread_its_deadlines() {
    if skip_unless_root("a_wall_clock_change_wakes_the_agent_to_reread_its_deadlines") {
        return;
    }
    let fake = FakeEcr::builder().lifetime_secs(3600).start().unwrap();
    let world = World::start(fake);
    let agent = world.agent();
    agent.wait_for("refreshed token", 1, Duration::from_secs(10));
    // Setting the clock to the time it already shows is a clock change to the kernel (as an
    // NTP step or a resume would be), and moves it by a few milliseconds at most.
    let status = Command::new("date")
        .arg("-s")
        .arg(format!(
            "@{:.6}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        ))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "date -s");
    agent.wait_for("the wall clock changed", 1, Duration::from_secs(5));
    assert_eq!(
        agent.count("refreshed token"),
        1,
        "nothing was due: {}",
        agent.log()
    );
}

/// An unbound registry a developer pulls from with their own AWS profile.
const SHELL_REGISTRY: &str = "210987654321.dkr.ecr.eu-central-1.amazonaws.com";

#[test]
fn a_profile_exported_only_in_the_shell_is_renewed_by_an_agent_started_without_it() {
    // `export AWS_PROFILE=work` in the shell; the agent (a systemd user unit) has no such
    // variable. 20-second tokens answered in 2 s: a `get` that fetched would take 2 s.
    let fake = FakeEcr::builder()
        .lifetime_secs(20)
        .latency_ms(2000)
        .start()
        .unwrap();
    let world = World::start(fake);
    std::fs::write(
        world.sandbox.aws_credentials_file(),
        format!(
            "[work]\naws_access_key_id = {OTHER_ACCESS_KEY_ID}\naws_secret_access_key = {OTHER_SECRET_ACCESS_KEY}\n"
        ),
    )
    .unwrap();
    let agent = world.agent();
    agent.wait_for("refreshed token", 1, Duration::from_secs(15));
    let shell = || world.helper().env("AWS_PROFILE", "work");
    shell().get(SHELL_REGISTRY).assert_ok();
    // Keys that exist only in one shell's environment: the agent cannot renew them and must
    // leave them to that shell's `get`s, without a word.
    let env_only = "123456789012.dkr.ecr.ap-south-1.amazonaws.com";
    world
        .helper()
        .envs(Sandbox::example_keys())
        .get(env_only)
        .assert_ok();

    let started = Instant::now();
    let mut slow = Vec::new();
    let mut gets = 0;
    while started.elapsed() < Duration::from_secs(45) {
        let run = shell().get(SHELL_REGISTRY);
        run.assert_ok();
        gets += 1;
        if run.elapsed > Duration::from_millis(500) {
            slow.push((started.elapsed(), run.elapsed));
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
    println!(
        "{gets} gets, {} slow; the agent renewed {SHELL_REGISTRY} {} times",
        slow.len(),
        agent.count(&format!("refreshed token registry={SHELL_REGISTRY}"))
    );
    assert!(
        slow.is_empty(),
        "gets that waited on AWS (at, took): {slow:?}; agent log:\n{}",
        agent.log()
    );
    assert!(
        agent.count(&format!("refreshed token registry={SHELL_REGISTRY}")) >= 2,
        "the agent renews the shell's profile: {}",
        agent.log()
    );
    assert!(
        world.fake.calls_by(OTHER_ACCESS_KEY_ID).unwrap() >= 3,
        "with the profile's keys"
    );
    assert_eq!(agent.count("refresh failed"), 0, "{}", agent.log());
    assert!(
        !agent.log().contains(env_only),
        "environment-only keys are not the agent's business: {}",
        agent.log()
    );
}

#[test]
fn tokens_born_without_life_are_retried_with_backoff_not_in_a_loop() {
    // ECR (or moto) handing out tokens that are already expired.
    let fake = FakeEcr::builder().lifetime_secs(0).start().unwrap();
    let world = World::start(fake);
    let before = world.calls();
    let agent = world.agent();
    std::thread::sleep(Duration::from_secs(30));
    let calls = world.calls() - before;
    println!("{calls} calls in 30 s of zero-life tokens");
    // Backoff 5 s, 10 s, 20 s (±20 %): attempts at about 0, 5 and 15 s.
    assert!(
        (2..=5).contains(&calls),
        "{calls} calls in 30 s; agent log:\n{}",
        agent.log()
    );
    assert!(agent.log().contains("no usable life"), "{}", agent.log());
}

/// Binds `count` more exact hosts (other accounts in the example registry's region) to key set
/// `acme`, as many `add`s would; returns them.
fn bind_many(world: &World, count: usize) -> Vec<String> {
    let hosts: Vec<String> = (0..count)
        .map(|i| {
            format!(
                "{:012}.dkr.ecr.us-east-1.amazonaws.com",
                100_000_000_000 + i
            )
        })
        .collect();
    let path = world
        .sandbox
        .config_home()
        .join("docker-credential-ecr/config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let bindings = config["bindings"].as_array_mut().expect("bindings");
    for host in &hosts {
        bindings.push(serde_json::json!({"registry": host, "source": {"key_set": "acme"}}));
    }
    let staged = path.with_extension("json.new");
    std::fs::write(&staged, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    hosts
}

/// A field of `/proc/PID/status`, in its unit (kB for the memory fields).
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// User plus system CPU time of `pid` so far, in clock ticks (`/proc/PID/stat` fields 14, 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 3 (state) is fields[0] here: utime is field 14, stime 15.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn two_hundred_registries_on_one_key_set_cost_one_call_per_renewal() {
    // 10-second tokens, renewed at half-life: a renewal every ~5 s.
    let fake = FakeEcr::builder().lifetime_secs(10).start().unwrap();
    let world = World::start(fake);
    let hosts = bind_many(&world, 199);
    let before = world.calls();
    let agent = world.agent();
    agent.wait_for("refreshed token", 3, Duration::from_secs(40));
    let calls = world.calls() - before;
    println!(
        "{calls} calls for {} renewals of 200 bindings",
        agent.count("refreshed token")
    );
    assert!(
        calls <= 4,
        "{calls} calls for 3 renewals of one key set's 200 registries; agent log:\n{}",
        agent.log()
    );
    let served = world.calls();
    for host in [&hosts[0], &hosts[150], &EXAMPLE_REGISTRY.to_string()] {
        world.helper().get(host).assert_ok();
    }
    assert_eq!(
        world.calls(),
        served,
        "every binding is served the one token"
    );
    assert_eq!(agent.count("refresh failed"), 0, "{}", agent.log());
}

#[test]
fn the_agent_looking_after_two_hundred_registries_is_small_and_idle_between_deadlines() {
    let fake = FakeEcr::builder().lifetime_secs(3600).start().unwrap();
    let world = World::start_verified(fake);
    bind_many(&world, 199);
    let before = world.calls();
    let agent = world.agent();
    agent.wait_for("refresher started", 1, Duration::from_secs(10));
    // Let it read the config and the cache, then watch it between deadlines (the next one is
    // half an hour away).
    std::thread::sleep(Duration::from_secs(2));
    let pid = agent.child.id();
    let ticks = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(5));
    let idle_ticks = cpu_ticks(pid) - ticks;
    let rss_kib = proc_status(pid, "VmRSS");
    println!("agent with 200 bindings: VmRSS {rss_kib} kB, {idle_ticks} CPU ticks in 5 s idle");
    assert_eq!(
        world.calls(),
        before,
        "the token add verified with serves all 200 bindings: nothing to fetch; agent log:\n{}",
        agent.log()
    );
    assert!(
        idle_ticks <= 2,
        "{idle_ticks} clock ticks of CPU in 5 s with nothing due: no polling"
    );
    assert!(
        rss_kib < 30 * 1024,
        "the agent's RSS with 200 bindings is {rss_kib} kB, over 30 MiB"
    );
}
