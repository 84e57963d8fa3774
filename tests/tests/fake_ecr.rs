//! Integration tests of `fake-ecr` itself, through the `FakeEcr` handle.
//!
//! Each test starts its own fake process and speaks the wire protocol with a plain blocking
//! client, as the AWS SDK would (with a SigV4-shaped `Authorization` header the fake reads but
//! does not verify). The TLS test uses the `openssl` and `curl` command-line tools.

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ecr_e2e::fake::wire::{ECR_PUBLIC_TARGET, ECR_TARGET};
use ecr_e2e::fake::{KnobsPatch, Mode, Stats};
use ecr_e2e::fake_handle::FakeEcr;
use serde_json::Value;

const KEY: &str = "AKIAFAKEECRTEST00001";
const OTHER_KEY: &str = "AKIAFAKEECRTEST00002";

/// One answer of the fake, read completely.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    json: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn error_type(&self) -> Option<&str> {
        self.json["__type"].as_str()
    }
}

/// A client that returns 4xx/5xx answers instead of erroring, and never uses a proxy.
fn client(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn sigv4(key: &str, region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20260101/{region}/ecr/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={}",
        "0".repeat(64)
    )
}

/// Sends an API request; `authorization` and `target` are left out when `None`.
fn send(
    agent: &ureq::Agent,
    url: &str,
    target: Option<&str>,
    authorization: Option<&str>,
    body: &str,
) -> Result<Answer, ureq::Error> {
    let mut request = agent
        .post(url)
        .header("Content-Type", "application/x-amz-json-1.1");
    if let Some(target) = target {
        request = request.header("X-Amz-Target", target);
    }
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    let mut response = request.send(body)?;
    let text = response.body_mut().read_to_string()?;
    Ok(Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        json: serde_json::from_str(&text).expect("the fake answers JSON"),
    })
}

/// An ECR GetAuthorizationToken call signed by `key` in us-east-1.
fn get_token(fake: &FakeEcr, key: &str) -> Answer {
    send(
        &client(Duration::from_secs(10)),
        &fake.url(),
        Some(ECR_TARGET),
        Some(&sigv4(key, "us-east-1")),
        "{}",
    )
    .expect("the fake answers")
}

fn start() -> FakeEcr {
    FakeEcr::start().expect("fake-ecr starts")
}

fn epoch_secs(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

fn now_secs() -> f64 {
    epoch_secs(SystemTime::now())
}

fn decode_token(token: &Value) -> String {
    let bytes = BASE64
        .decode(token.as_str().expect("the token is a string"))
        .expect("the token is base64");
    String::from_utf8(bytes).expect("the token is UTF-8")
}

fn assert_near(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} is not within {tolerance} of {expected}"
    );
}

#[test]
fn ecr_token_has_the_wire_shape_and_holds_the_password() {
    let fake = FakeEcr::builder()
        .password("s3cret")
        .lifetime_secs(3600)
        .start()
        .expect("fake-ecr starts");
    let answer = send(
        &client(Duration::from_secs(10)),
        &fake.url(),
        Some(ECR_TARGET),
        Some(&sigv4(KEY, "eu-central-1")),
        "{}",
    )
    .expect("the fake answers");

    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert!(
        answer
            .header("x-amzn-requestid")
            .is_some_and(|id| id.len() == 36)
    );
    let data = answer.json["authorizationData"]
        .as_array()
        .expect("authorizationData is an array");
    assert_eq!(data.len(), 1);
    assert_eq!(decode_token(&data[0]["authorizationToken"]), "AWS:s3cret");
    let expires_at = data[0]["expiresAt"]
        .as_f64()
        .expect("expiresAt is a number");
    assert_near(expires_at, now_secs() + 3600.0, 5.0, "expiresAt");
    assert_eq!(
        data[0]["proxyEndpoint"],
        "https://123456789012.dkr.ecr.eu-central-1.amazonaws.com"
    );
}

#[test]
fn registry_ids_name_the_proxy_endpoints() {
    let fake = start();
    let answer = send(
        &client(Duration::from_secs(10)),
        &fake.url(),
        Some(ECR_TARGET),
        Some(&sigv4(KEY, "ap-southeast-2")),
        r#"{"registryIds":["111122223333","444455556666"]}"#,
    )
    .expect("the fake answers");
    let endpoints: Vec<&str> = answer.json["authorizationData"]
        .as_array()
        .expect("authorizationData is an array")
        .iter()
        .filter_map(|data| data["proxyEndpoint"].as_str())
        .collect();
    assert_eq!(
        endpoints,
        [
            "https://111122223333.dkr.ecr.ap-southeast-2.amazonaws.com",
            "https://444455556666.dkr.ecr.ap-southeast-2.amazonaws.com",
        ]
    );
}

#[test]
fn ecr_public_token_is_a_single_object() {
    let fake = start();
    let answer = send(
        &client(Duration::from_secs(10)),
        &fake.url(),
        Some(ECR_PUBLIC_TARGET),
        Some(&sigv4(KEY, "us-east-1")),
        "{}",
    )
    .expect("the fake answers");
    assert_eq!(answer.status, 200, "{answer:?}");
    let data = &answer.json["authorizationData"];
    assert!(data.is_object(), "{data}");
    assert_eq!(
        decode_token(&data["authorizationToken"]),
        "AWS:fake-ecr-password"
    );
    let expires_at = data["expiresAt"].as_f64().expect("expiresAt is a number");
    assert_near(expires_at, now_secs() + 43_200.0, 5.0, "expiresAt");
    assert!(data.get("proxyEndpoint").is_none());
}

#[test]
fn date_offset_skews_the_date_header_and_the_expiry_alike() {
    let fake = start();
    let plain = get_token(&fake, KEY);
    let date = plain.header("date").expect("a Date header");
    let date = httpdate::parse_http_date(date).expect("an RFC 7231 date");
    assert_near(epoch_secs(date), now_secs(), 3.0, "unskewed Date");

    fake.set_knobs(&KnobsPatch {
        date_offset_secs: Some(-7200),
        lifetime_secs: Some(600),
        ..KnobsPatch::default()
    })
    .expect("knobs change");
    let skewed = get_token(&fake, KEY);
    let date = httpdate::parse_http_date(skewed.header("date").expect("a Date header"))
        .expect("an RFC 7231 date");
    assert_near(epoch_secs(date), now_secs() - 7200.0, 3.0, "skewed Date");
    let expires_at = skewed.json["authorizationData"][0]["expiresAt"]
        .as_f64()
        .expect("expiresAt is a number");
    assert_near(
        expires_at,
        now_secs() - 7200.0 + 600.0,
        3.0,
        "skewed expiresAt",
    );
}

#[test]
fn each_mode_answers_its_aws_error() {
    let fake = start();
    let cases = [
        (Mode::ServerError, 500, "ServerException", ""),
        (Mode::Throttle, 400, "ThrottlingException", "Rate exceeded"),
        (
            Mode::RejectKeys,
            400,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            Mode::AccessDenied,
            400,
            "AccessDeniedException",
            "is not authorized to perform: ecr:GetAuthorizationToken",
        ),
        (
            Mode::SignatureExpired,
            400,
            "InvalidSignatureException",
            "Signature expired: 20260101T000000Z is now earlier than",
        ),
        (
            Mode::ExpiredToken,
            400,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
    ];
    for (mode, status, code, message) in cases {
        fake.set_mode(mode).expect("mode changes");
        let answer = get_token(&fake, KEY);
        assert_eq!(answer.status, status, "{mode}: {answer:?}");
        assert_eq!(answer.header("x-amzn-errortype"), Some(code), "{mode}");
        assert_eq!(answer.error_type(), Some(code), "{mode}");
        let text = answer.json["message"].as_str().expect("a message");
        assert!(text.contains(message), "{mode}: {text:?}");
        assert!(answer.header("date").is_some(), "{mode}: no Date header");
        assert!(answer.header("x-amzn-requestid").is_some(), "{mode}");
    }
    fake.set_mode(Mode::Ok).expect("mode changes");
    assert_eq!(get_token(&fake, KEY).status, 200);
}

#[test]
fn unsigned_requests_and_unknown_operations_are_refused() {
    let fake = start();
    let agent = client(Duration::from_secs(10));
    let unsigned = send(&agent, &fake.url(), Some(ECR_TARGET), None, "{}").expect("answer");
    assert_eq!(unsigned.status, 403);
    assert_eq!(
        unsigned.error_type(),
        Some("MissingAuthenticationTokenException")
    );

    let auth = sigv4(KEY, "us-east-1");
    let unknown = send(
        &agent,
        &fake.url(),
        Some("AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"),
        Some(&auth),
        "{}",
    )
    .expect("answer");
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.error_type(), Some("UnknownOperationException"));

    let garbled = send(
        &agent,
        &fake.url(),
        Some(ECR_TARGET),
        Some(&auth),
        "{not json",
    )
    .expect("answer");
    assert_eq!(garbled.status, 400);
    assert_eq!(garbled.error_type(), Some("SerializationException"));
}

#[test]
fn fail_next_fails_that_many_calls_then_the_mode_applies_again() {
    let fake = start();
    let knobs = fake
        .set_knobs(&KnobsPatch {
            fail_next: Some(2),
            ..KnobsPatch::default()
        })
        .expect("knobs change");
    assert_eq!(knobs.fail_next, 2);
    let statuses: Vec<u16> = (0..3).map(|_| get_token(&fake, KEY).status).collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(fake.knobs().expect("knobs").fail_next, 0);
}

#[test]
fn rejected_keys_are_refused_while_other_keys_get_tokens() {
    let fake = FakeEcr::builder()
        .knobs(KnobsPatch {
            rejected_keys: Some(vec![OTHER_KEY.to_owned()]),
            ..KnobsPatch::default()
        })
        .start()
        .expect("fake-ecr starts");
    let refused = get_token(&fake, OTHER_KEY);
    assert_eq!(refused.status, 400);
    assert_eq!(refused.error_type(), Some("UnrecognizedClientException"));
    assert_eq!(get_token(&fake, KEY).status, 200);
}

#[test]
fn calls_are_counted_per_key_and_target_and_reset_zeroes_them() {
    let fake = start();
    get_token(&fake, KEY);
    get_token(&fake, KEY);
    get_token(&fake, OTHER_KEY);
    send(
        &client(Duration::from_secs(10)),
        &fake.url(),
        Some(ECR_PUBLIC_TARGET),
        Some(&sigv4(OTHER_KEY, "us-east-1")),
        "",
    )
    .expect("answer");
    // Control requests in between must not count.
    fake.knobs().expect("knobs");

    let stats = fake.stats().expect("stats");
    assert_eq!(stats.calls, 4);
    assert_eq!(stats.by_access_key.get(KEY), Some(&2));
    assert_eq!(stats.by_access_key.get(OTHER_KEY), Some(&2));
    assert_eq!(stats.by_target.get(ECR_TARGET), Some(&3));
    assert_eq!(stats.by_target.get(ECR_PUBLIC_TARGET), Some(&1));

    fake.reset().expect("reset");
    assert_eq!(fake.stats().expect("stats"), Stats::default());
    get_token(&fake, KEY);
    assert_eq!(fake.stats().expect("stats").calls, 1);
}

#[test]
fn latency_delays_answers_but_not_concurrent_ones() {
    const LATENCY_MS: u64 = 400;
    const CONCURRENT: usize = 32;
    let fake = FakeEcr::builder()
        .latency_ms(LATENCY_MS)
        .start()
        .expect("fake-ecr starts");

    let started = Instant::now();
    assert_eq!(get_token(&fake, KEY).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(LATENCY_MS));

    let started = Instant::now();
    let statuses: Vec<u16> = thread::scope(|scope| {
        let fake = &fake;
        let workers: Vec<_> = (0..CONCURRENT)
            .map(|_| scope.spawn(move || get_token(fake, KEY).status))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("worker thread"))
            .collect()
    });
    let elapsed = started.elapsed();
    assert!(statuses.iter().all(|&status| status == 200), "{statuses:?}");
    // Served one after another they would take 32 x 400 ms = 12.8 s.
    assert!(
        elapsed < Duration::from_millis(LATENCY_MS * 5),
        "{CONCURRENT} concurrent requests took {elapsed:?}"
    );
    assert_eq!(fake.stats().expect("stats").calls, 1 + CONCURRENT as u64);
}

#[test]
fn a_hanging_request_blocks_neither_other_requests_nor_the_control_api() {
    let fake = FakeEcr::builder()
        .knobs(KnobsPatch {
            mode: Some(Mode::Hang),
            rejected_keys: Some(vec![OTHER_KEY.to_owned()]),
            ..KnobsPatch::default()
        })
        .start()
        .expect("fake-ecr starts");
    let url = fake.url();
    let (done, hung) = mpsc::channel();
    let hanging = thread::spawn(move || {
        let started = Instant::now();
        let result = send(
            &client(Duration::from_secs(3)),
            &url,
            Some(ECR_TARGET),
            Some(&sigv4(KEY, "us-east-1")),
            "{}",
        );
        let _ = done.send(());
        (result.map(|answer| answer.status), started.elapsed())
    });
    wait_for_calls(&fake, 1);

    // A revoked key is refused at once, even in mode hang.
    let started = Instant::now();
    let refused = get_token(&fake, OTHER_KEY);
    assert_eq!(refused.error_type(), Some("UnrecognizedClientException"));
    assert!(started.elapsed() < Duration::from_secs(1));

    // The mode is read per request: the hanging one stays hung, a new one is served.
    fake.set_mode(Mode::Ok).expect("mode changes");
    let started = Instant::now();
    assert_eq!(get_token(&fake, KEY).status, 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(hung.try_recv().is_err(), "the hanging request was answered");

    let (result, elapsed) = hanging.join().expect("hanging thread");
    assert!(result.is_err(), "hang answered: {result:?}");
    assert!(
        elapsed >= Duration::from_secs(3),
        "gave up after {elapsed:?}"
    );
}

fn wait_for_calls(fake: &FakeEcr, calls: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.stats().expect("stats").calls < calls {
        assert!(
            Instant::now() < deadline,
            "the fake never saw {calls} calls"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn start_flags_set_the_knobs_and_bad_patches_are_refused() {
    let fake = FakeEcr::builder()
        .knobs(KnobsPatch {
            lifetime_secs: Some(5),
            latency_ms: Some(1),
            mode: Some(Mode::Throttle),
            rejected_keys: Some(vec!["AKIA1".into(), "AKIA2".into()]),
            date_offset_secs: Some(-30),
            password: Some("pw".into()),
            fail_next: Some(3),
        })
        .start()
        .expect("fake-ecr starts");
    let knobs = fake.knobs().expect("knobs");
    assert_eq!(knobs.lifetime_secs, 5);
    assert_eq!(knobs.latency_ms, 1);
    assert_eq!(knobs.mode, Mode::Throttle);
    assert_eq!(knobs.rejected_keys, ["AKIA1", "AKIA2"]);
    assert_eq!(knobs.date_offset_secs, -30);
    assert_eq!(knobs.password, "pw");
    assert_eq!(knobs.fail_next, 3);

    let mut response = client(Duration::from_secs(10))
        .post(format!("{}/knobs", fake.control_url()))
        .send(r#"{"mode":"sideways"}"#)
        .expect("control answers");
    assert_eq!(response.status().as_u16(), 400);
    let body = response.body_mut().read_to_string().expect("body");
    assert!(body.contains("sideways"), "{body}");
    assert_eq!(fake.knobs().expect("knobs").mode, Mode::Throttle);
}

#[test]
fn tls_api_serves_clients_that_trust_the_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_ca_and_server_cert(dir.path());
    let fake = FakeEcr::builder()
        .tls(dir.path().join("server.pem"), dir.path().join("server.key"))
        .password("over-tls")
        .start()
        .expect("fake-ecr starts with TLS");
    assert!(
        fake.url().starts_with("https://127.0.0.1:"),
        "{}",
        fake.url()
    );

    let ca = dir.path().join("ca.pem");
    for url in [fake.url(), fake.url_with_host("localhost")] {
        let (code, body) = curl_token(&url, Some(&ca), fake.api_addr().port());
        assert_eq!(code, 0, "curl {url} failed: {body}");
        let json: Value = serde_json::from_str(&body).expect("JSON body");
        assert_eq!(
            decode_token(&json["authorizationData"][0]["authorizationToken"]),
            "AWS:over-tls"
        );
    }
    // Without trusting the CA the handshake must fail: the TLS is real.
    let (code, _) = curl_token(&fake.url(), None, fake.api_addr().port());
    assert_eq!(code, 60, "curl exit code for an untrusted certificate");
    // The control API stays plain HTTP.
    assert_eq!(fake.stats().expect("stats").calls, 2);
}

/// POSTs a GetAuthorizationToken with curl; returns curl's exit code and the body.
fn curl_token(url: &str, ca: Option<&Path>, port: u16) -> (i32, String) {
    let mut command = Command::new("curl");
    command
        .args([
            "--silent",
            "--show-error",
            "--noproxy",
            "*",
            "--max-time",
            "10",
        ])
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(["-X", "POST", "-d", "{}"])
        .args(["-H", "Content-Type: application/x-amz-json-1.1"])
        .args(["-H", &format!("X-Amz-Target: {ECR_TARGET}")])
        .args(["-H", &format!("Authorization: {}", sigv4(KEY, "us-east-1"))]);
    if let Some(ca) = ca {
        command.arg("--cacert").arg(ca);
    }
    let output = command.arg(url).output().expect("curl runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let body = if output.status.success() {
        text(&output.stdout)
    } else {
        text(&output.stderr)
    };
    (output.status.code().unwrap_or(-1), body)
}

/// A throwaway CA and a server certificate for localhost and 127.0.0.1, signed by it.
fn make_ca_and_server_cert(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-days",
            "1",
            "-subj",
            "/CN=fake-ecr test CA",
        ],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem"],
    );
    openssl(
        dir,
        &["req", "-subj", "/CN=localhost"],
        &ec,
        &["-keyout", "server.key", "-out", "server.csr"],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
         basicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write server.ext");
    openssl(
        dir,
        &["x509", "-req", "-in", "server.csr", "-days", "1"],
        &["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"],
        &["-extfile", "server.ext", "-out", "server.pem"],
    );
}

fn openssl(dir: &Path, first: &[&str], second: &[&str], third: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(first)
        .args(second)
        .args(third)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {first:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
