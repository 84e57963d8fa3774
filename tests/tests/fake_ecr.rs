//! Integration tests of `fake-ecr` itself, through the `FakeEcr` handle.
//!
//! Each test starts its own fake process and speaks the wire protocol with a plain blocking
//! client, as the AWS SDK would (with a SigV4-shaped `Authorization` header the fake reads but
//! does not verify): awsJson1_1 for ECR, awsQuery (form body, XML answers) for STS. The TLS test
//! uses the `openssl` and `curl` command-line tools.

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ecr_e2e::fake::sts::{self, ASSUME_ROLE_TARGET, GET_CALLER_IDENTITY_TARGET};
use ecr_e2e::fake::wire::{ECR_PUBLIC_TARGET, ECR_TARGET};
use ecr_e2e::fake::{AssumeRoleRecord, KnobsPatch, Mode, Stats};
use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::service_account_token;
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
            sts_duration_secs: Some(Some(77)),
            role_external_ids: Some(
                [(ROLE.to_owned(), "-starts-with-a-dash".to_owned())]
                    .into_iter()
                    .collect(),
            ),
            rejected_subjects: Some(vec!["-sub1".into()]),
            role_subjects: Some(
                [(ROLE.to_owned(), vec!["sub2".to_owned(), "sub3".to_owned()])]
                    .into_iter()
                    .collect(),
            ),
            // The repositories and their images are set through the control endpoint only.
            repositories: None,
            images_page_size: None,
            images_denied_keys: None,
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
    assert_eq!(knobs.sts_duration_secs, Some(77));
    assert_eq!(
        knobs.role_external_ids.get(ROLE).map(String::as_str),
        Some("-starts-with-a-dash")
    );
    assert_eq!(knobs.rejected_subjects, ["-sub1"]);
    assert_eq!(knobs.role_subjects.get(ROLE).map(Vec::len), Some(2));

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

// ---------------------------------------------------------------------------------------------
// STS (awsQuery)
// ---------------------------------------------------------------------------------------------

const ROLE: &str = "arn:aws:iam::210987654321:role/vendor/EcrPull";
const SESSION: &str = "docker-credential-ecr";

/// One STS answer: status, headers and the XML text.
#[derive(Debug)]
struct XmlAnswer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl XmlAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The text of the first `<tag>` element (no attributes, no nesting of the same tag).
    fn text(&self, tag: &str) -> Option<&str> {
        let open = format!("<{tag}>");
        let start = self.body.find(&open)? + open.len();
        let end = start + self.body[start..].find(&format!("</{tag}>"))?;
        Some(&self.body[start..end])
    }

    fn error_code(&self) -> Option<&str> {
        self.text("Code")
    }

    fn assert_error(&self, status: u16, code: &str, message: &str) {
        assert_eq!(self.status, status, "{code}: {self:?}");
        assert_eq!(self.header("content-type"), Some("text/xml"), "{code}");
        assert!(
            self.body.starts_with(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
            ),
            "{code}: {}",
            self.body
        );
        assert_eq!(self.error_code(), Some(code), "{}", self.body);
        let fault = if status >= 500 { "Receiver" } else { "Sender" };
        assert_eq!(self.text("Type"), Some(fault), "{}", self.body);
        let text = unescape(self.text("Message").expect("a Message"));
        assert!(text.contains(message), "{code}: {text:?}");
        assert!(self.header("date").is_some(), "{code}: no Date header");
        assert_eq!(
            self.text("RequestId"),
            self.header("x-amzn-requestid"),
            "the body and the header carry the same request id"
        );
    }
}

/// Undoes the five predefined XML entities (`&amp;` last).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Temporary credentials read from an AssumeRole answer.
#[derive(Debug)]
struct Issued {
    key: String,
    token: String,
    expiration: u64,
}

fn sts_sigv4(key: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/sts/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, Signature={}",
        "0".repeat(64)
    )
}

/// `application/x-www-form-urlencoded`, as the SDK encodes it.
fn form_encode(params: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(byte).to_string()
                }
                _ => format!("%{byte:02X}"),
            })
            .collect::<String>()
    };
    params
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// An STS request signed by `key` (with `token` as `X-Amz-Security-Token`); `Version` is
/// added to `params`.
fn sts_call(
    fake: &FakeEcr,
    key: Option<&str>,
    token: Option<&str>,
    params: &[(&str, &str)],
) -> XmlAnswer {
    let mut all = params.to_vec();
    all.push(("Version", "2011-06-15"));
    let mut request = client(Duration::from_secs(10)).post(fake.url()).header(
        "Content-Type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    if let Some(key) = key {
        request = request.header("Authorization", &sts_sigv4(key));
    }
    if let Some(token) = token {
        request = request.header("X-Amz-Security-Token", token);
    }
    let mut response = request.send(form_encode(&all)).expect("the fake answers");
    XmlAnswer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.body_mut().read_to_string().expect("a body"),
    }
}

fn assume_role(fake: &FakeEcr, key: &str, extra: &[(&str, &str)]) -> XmlAnswer {
    let mut params = vec![
        ("Action", "AssumeRole"),
        ("RoleArn", ROLE),
        ("RoleSessionName", SESSION),
    ];
    params.extend_from_slice(extra);
    sts_call(fake, Some(key), None, &params)
}

fn issued(answer: &XmlAnswer) -> Issued {
    assert_eq!(answer.status, 200, "{answer:?}");
    let text = |tag| answer.text(tag).unwrap_or_else(|| panic!("no <{tag}>"));
    Issued {
        key: text("AccessKeyId").to_owned(),
        token: text("SessionToken").to_owned(),
        expiration: parse_iso8601(text("Expiration")),
    }
}

/// An ECR GetAuthorizationToken call with temporary credentials.
fn get_token_as(fake: &FakeEcr, key: &str, token: &str) -> Answer {
    let mut response = client(Duration::from_secs(10))
        .post(fake.url())
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", ECR_TARGET)
        .header("Authorization", &sigv4(key, "us-east-1"))
        .header("X-Amz-Security-Token", token)
        .send("{}")
        .expect("the fake answers");
    let text = response.body_mut().read_to_string().expect("a body");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        json: serde_json::from_str(&text).expect("the fake answers JSON"),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` -> epoch seconds (days_from_civil).
fn parse_iso8601(text: &str) -> u64 {
    assert_eq!(text.len(), 20, "{text}");
    assert!(text.ends_with('Z') && &text[10..11] == "T", "{text}");
    let number = |range: std::ops::Range<usize>| -> i64 {
        text[range].parse().unwrap_or_else(|_| panic!("bad {text}"))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).expect("after 1970")
}

#[test]
fn iso8601_parser_of_these_tests_is_right() {
    assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), 0);
    assert_eq!(parse_iso8601("2000-02-29T00:00:00Z"), 951_782_400);
    assert_eq!(parse_iso8601("2026-11-23T12:00:00Z"), 1_795_435_200);
}

#[test]
fn assume_role_answers_the_sts_xml_shape_and_is_recorded() {
    let fake = start();
    let answer = assume_role(
        &fake,
        KEY,
        &[("ExternalId", "ext-1"), ("DurationSeconds", "1800")],
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("content-type"), Some("text/xml"));
    assert!(
        answer.body.starts_with(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <AssumeRoleResult><Credentials><AccessKeyId>"
        ),
        "{}",
        answer.body
    );
    assert!(answer.body.ends_with("</AssumeRoleResponse>"));
    let request_id = answer.header("x-amzn-requestid").expect("a request id");
    assert_eq!(answer.text("RequestId"), Some(request_id));

    let credentials = issued(&answer);
    assert_eq!(credentials.key, sts::temporary_key_id(ROLE, SESSION, 1));
    assert!(credentials.key.starts_with("ASIA") && credentials.key.len() == 20);
    assert_eq!(answer.text("SecretAccessKey").map(str::len), Some(40));
    assert!(credentials.token.len() > 100);
    assert_near(
        credentials.expiration as f64,
        now_secs() + 1800.0,
        3.0,
        "Expiration",
    );
    assert_eq!(
        answer.text("Arn"),
        Some("arn:aws:sts::210987654321:assumed-role/EcrPull/docker-credential-ecr")
    );
    let role_id = answer.text("AssumedRoleId").expect("an AssumedRoleId");
    assert!(role_id.starts_with("AROA") && role_id.ends_with(":docker-credential-ecr"));
    assert_eq!(answer.text("PackedPolicySize"), Some("0"));

    // Without DurationSeconds: 3600; the counter tells consecutive credentials apart.
    let second = issued(&assume_role(&fake, KEY, &[]));
    assert_eq!(second.key, sts::temporary_key_id(ROLE, SESSION, 2));
    assert_ne!(second.key, credentials.key);
    assert_near(
        second.expiration as f64,
        now_secs() + 3600.0,
        3.0,
        "default Expiration",
    );

    let stats = fake.stats().expect("stats");
    assert_eq!(stats.calls, 2);
    assert_eq!(stats.by_access_key.get(KEY), Some(&2));
    assert_eq!(stats.by_target.get(ASSUME_ROLE_TARGET), Some(&2));
    assert_eq!(stats.assumed.get(ROLE), Some(&2));
    assert_eq!(
        stats.assume_role_requests[0],
        AssumeRoleRecord {
            role_arn: ROLE.to_owned(),
            session_name: SESSION.to_owned(),
            external_id: Some("ext-1".to_owned()),
            duration_seconds: Some(1800),
            access_key: Some(KEY.to_owned()),
            outcome: "ok".to_owned(),
            issued_access_key: Some(credentials.key),
        }
    );
    assert_eq!(stats.assume_role_requests[1].external_id, None);
    assert_eq!(fake.assume_role_requests().expect("requests").len(), 2);
}

#[test]
fn sts_duration_knob_and_date_offset_set_the_expiration() {
    let fake = FakeEcr::builder()
        .sts_duration_secs(120)
        .start()
        .expect("fake-ecr starts");
    let pinned = issued(&assume_role(&fake, KEY, &[("DurationSeconds", "43200")]));
    assert_near(
        pinned.expiration as f64,
        now_secs() + 120.0,
        3.0,
        "Expiration",
    );

    fake.set_knobs(&KnobsPatch {
        sts_duration_secs: Some(None),
        date_offset_secs: Some(-7200),
        ..KnobsPatch::default()
    })
    .expect("knobs change");
    let skewed = issued(&assume_role(&fake, KEY, &[("DurationSeconds", "900")]));
    assert_near(
        skewed.expiration as f64,
        now_secs() - 7200.0 + 900.0,
        3.0,
        "skewed Expiration",
    );
    // Still valid on the fake's (skewed) clock.
    assert_eq!(get_token_as(&fake, &skewed.key, &skewed.token).status, 200);
}

#[test]
fn external_id_mismatch_is_access_denied() {
    let fake = FakeEcr::builder()
        .role_external_id(ROLE, "vendor-ext-42")
        .start()
        .expect("fake-ecr starts");
    let message = format!(
        "User: arn:aws:iam::123456789012:user/vendor is not authorized to perform: \
         sts:AssumeRole on resource: {ROLE}"
    );
    assume_role(&fake, KEY, &[("ExternalId", "wrong")]).assert_error(403, "AccessDenied", &message);
    assume_role(&fake, KEY, &[]).assert_error(403, "AccessDenied", &message);
    assert_eq!(
        assume_role(&fake, KEY, &[("ExternalId", "vendor-ext-42")]).status,
        200
    );
    // Other roles need none.
    let other = sts_call(
        &fake,
        Some(KEY),
        None,
        &[
            ("Action", "AssumeRole"),
            ("RoleArn", "arn:aws:iam::210987654321:role/Other"),
            ("RoleSessionName", SESSION),
        ],
    );
    assert_eq!(other.status, 200, "{other:?}");

    let stats = fake.stats().expect("stats");
    let outcomes: Vec<(Option<&str>, &str)> = stats
        .assume_role_requests
        .iter()
        .map(|record| (record.external_id.as_deref(), record.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Some("wrong"), "AccessDenied"),
            (None, "AccessDenied"),
            (Some("vendor-ext-42"), "ok"),
            (None, "ok"),
        ]
    );
    assert_eq!(stats.assumed.get(ROLE), Some(&1));
    assert_eq!(stats.by_target.get(ASSUME_ROLE_TARGET), Some(&4));
}

#[test]
fn rejected_keys_get_invalid_client_token_id_from_sts() {
    let fake = FakeEcr::builder()
        .knobs(KnobsPatch {
            rejected_keys: Some(vec![OTHER_KEY.to_owned()]),
            ..KnobsPatch::default()
        })
        .start()
        .expect("fake-ecr starts");
    let invalid = "The security token included in the request is invalid.";
    assume_role(&fake, OTHER_KEY, &[]).assert_error(403, "InvalidClientTokenId", invalid);
    assert_eq!(assume_role(&fake, KEY, &[]).status, 200);
    fake.set_mode(Mode::RejectKeys).expect("mode changes");
    assume_role(&fake, KEY, &[]).assert_error(403, "InvalidClientTokenId", invalid);

    let stats = fake.stats().expect("stats");
    assert_eq!(stats.by_access_key.get(OTHER_KEY), Some(&1));
    assert_eq!(stats.assumed.get(ROLE), Some(&1));
}

#[test]
fn each_mode_answers_its_sts_error() {
    let fake = start();
    let cases = [
        (Mode::ServerError, 500, "InternalFailure", "internal error"),
        (Mode::Throttle, 400, "Throttling", "Rate exceeded"),
        (
            Mode::AccessDenied,
            403,
            "AccessDenied",
            "is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::",
        ),
        (
            Mode::SignatureExpired,
            403,
            "SignatureDoesNotMatch",
            "Signature expired: 20260101T000000Z is now earlier than",
        ),
        (
            Mode::ExpiredToken,
            400,
            "ExpiredToken",
            "The security token included in the request is expired",
        ),
    ];
    for (mode, status, code, message) in cases {
        fake.set_mode(mode).expect("mode changes");
        assume_role(&fake, KEY, &[]).assert_error(status, code, message);
    }
    fake.set_knobs(&KnobsPatch {
        mode: Some(Mode::Ok),
        fail_next: Some(1),
        ..KnobsPatch::default()
    })
    .expect("knobs change");
    assume_role(&fake, KEY, &[]).assert_error(500, "InternalFailure", "internal error");
    assert_eq!(assume_role(&fake, KEY, &[]).status, 200);
    assert_eq!(fake.stats().expect("stats").assumed.get(ROLE), Some(&1));
}

#[test]
fn malformed_sts_requests_get_sts_errors() {
    let fake = start();
    let unsigned = sts_call(&fake, None, None, &[("Action", "GetCallerIdentity")]);
    unsigned.assert_error(
        403,
        "MissingAuthenticationToken",
        "missing Authentication Token",
    );
    let unknown = sts_call(&fake, Some(KEY), None, &[("Action", "GetSessionToken")]);
    unknown.assert_error(400, "InvalidAction", "GetSessionToken");
    sts_call(&fake, Some(KEY), None, &[]).assert_error(400, "MissingAction", "Missing Action");
    let no_session = sts_call(
        &fake,
        Some(KEY),
        None,
        &[("Action", "AssumeRole"), ("RoleArn", ROLE)],
    );
    no_session.assert_error(400, "ValidationError", "'roleSessionName'");
    assume_role(&fake, KEY, &[("DurationSeconds", "899")]).assert_error(
        400,
        "ValidationError",
        "'durationSeconds'",
    );
    let bad_arn = sts_call(
        &fake,
        Some(KEY),
        None,
        &[
            ("Action", "AssumeRole"),
            ("RoleArn", "EcrPull"),
            ("RoleSessionName", SESSION),
        ],
    );
    bad_arn.assert_error(400, "ValidationError", "EcrPull");
    let stats = fake.stats().expect("stats");
    assert_eq!(stats.by_target.get("sts:GetSessionToken"), Some(&1));
    assert!(stats.assumed.is_empty());
}

#[test]
fn issued_temporary_keys_work_for_ecr_and_are_counted_under_them() {
    let fake = FakeEcr::builder()
        .password("via-role")
        .start()
        .expect("fake-ecr starts");
    let credentials = issued(&assume_role(&fake, KEY, &[]));

    let answer = get_token_as(&fake, &credentials.key, &credentials.token);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        decode_token(&answer.json["authorizationData"][0]["authorizationToken"]),
        "AWS:via-role"
    );

    let who = sts_call(
        &fake,
        Some(&credentials.key),
        Some(&credentials.token),
        &[("Action", "GetCallerIdentity")],
    );
    assert_eq!(who.status, 200, "{who:?}");
    assert!(who.body.starts_with(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    assert_eq!(
        who.text("Arn"),
        Some("arn:aws:sts::210987654321:assumed-role/EcrPull/docker-credential-ecr")
    );
    assert_eq!(who.text("Account"), Some("210987654321"));
    let vendor = sts_call(&fake, Some(KEY), None, &[("Action", "GetCallerIdentity")]);
    assert_eq!(
        vendor.text("Arn"),
        Some("arn:aws:iam::123456789012:user/vendor")
    );

    let stats = fake.stats().expect("stats");
    assert_eq!(stats.calls, 4);
    assert_eq!(stats.by_access_key.get(KEY), Some(&2));
    assert_eq!(stats.by_access_key.get(&credentials.key), Some(&2));
    assert_eq!(stats.by_target.get(ECR_TARGET), Some(&1));
    assert_eq!(stats.by_target.get(ASSUME_ROLE_TARGET), Some(&1));
    assert_eq!(stats.by_target.get(GET_CALLER_IDENTITY_TARGET), Some(&2));
}

#[test]
fn unknown_temporary_keys_are_unrecognized() {
    let fake = start();
    let credentials = issued(&assume_role(&fake, KEY, &[]));
    let invalid = "The security token included in the request is invalid.";

    let never_issued = sts::temporary_key_id(ROLE, SESSION, 99);
    let answer = get_token_as(&fake, &never_issued, &credentials.token);
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.error_type(), Some("UnrecognizedClientException"));
    assert_eq!(answer.json["message"], invalid);

    let wrong_token = get_token_as(&fake, &credentials.key, "not-the-token");
    assert_eq!(
        wrong_token.error_type(),
        Some("UnrecognizedClientException")
    );
    sts_call(
        &fake,
        Some(&never_issued),
        Some("whatever"),
        &[("Action", "GetCallerIdentity")],
    )
    .assert_error(403, "InvalidClientTokenId", invalid);
    assert_eq!(
        fake.stats()
            .expect("stats")
            .by_access_key
            .get(&never_issued),
        Some(&2)
    );
}

#[test]
fn expired_temporary_keys_get_expired_token_errors() {
    let fake = FakeEcr::builder()
        .sts_duration_secs(1)
        .start()
        .expect("fake-ecr starts");
    let credentials = issued(&assume_role(&fake, KEY, &[("DurationSeconds", "3600")]));
    assert_near(
        credentials.expiration as f64,
        now_secs() + 1.0,
        2.0,
        "Expiration",
    );
    // Reset zeroes the counters but keeps the issued credentials.
    fake.reset().expect("reset");
    thread::sleep(Duration::from_secs(2));

    let answer = get_token_as(&fake, &credentials.key, &credentials.token);
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(
        answer.header("x-amzn-errortype"),
        Some("ExpiredTokenException")
    );
    assert_eq!(
        answer.json["message"],
        "The security token included in the request is expired"
    );
    sts_call(
        &fake,
        Some(&credentials.key),
        Some(&credentials.token),
        &[("Action", "GetCallerIdentity")],
    )
    .assert_error(400, "ExpiredToken", "is expired");

    // Fresh credentials work again.
    let fresh = issued(&assume_role(&fake, KEY, &[]));
    assert_eq!(fresh.key, sts::temporary_key_id(ROLE, SESSION, 2));
    assert_eq!(get_token_as(&fake, &fresh.key, &fresh.token).status, 200);
    assert_eq!(
        fake.stats()
            .expect("stats")
            .by_access_key
            .get(&credentials.key),
        Some(&2)
    );
}

/// An unsigned AssumeRoleWithWebIdentity, as the SDK sends it.
fn assume_role_with_web_identity(fake: &FakeEcr, role: &str, token: &str) -> XmlAnswer {
    sts_call(
        fake,
        None,
        None,
        &[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("RoleArn", role),
            ("RoleSessionName", "shop.puller"),
            ("WebIdentityToken", token),
        ],
    )
}

#[test]
fn web_identity_is_accepted_unsigned_and_its_credentials_name_the_subject() {
    let fake = start();
    let puller = service_account_token::token("shop", "puller");
    let answer = assume_role_with_web_identity(&fake, ROLE, &puller);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.starts_with(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>system:serviceaccount:shop:puller<"
    ), "{}", answer.body);
    assert_eq!(
        answer.text("Audience"),
        Some(service_account_token::AUDIENCE)
    );
    assert_eq!(answer.text("Provider"), Some(service_account_token::ISSUER));
    let first = issued(&answer);
    let subject = service_account_token::subject("shop", "puller");
    assert_eq!(
        first.key,
        sts::web_identity_key_id(ROLE, "shop.puller", &subject, 1)
    );
    assert_near(
        first.expiration as f64,
        now_secs() + 3600.0,
        3.0,
        "Expiration",
    );

    // Another service account of the same role gets credentials of its own.
    let other = service_account_token::token("shop", "builder");
    let second = issued(&assume_role_with_web_identity(&fake, ROLE, &other));
    assert_ne!(first.key[..16], second.key[..16]);

    // The credentials work at ECR, and the fake counts each call under its key.
    assert_eq!(get_token_as(&fake, &first.key, &first.token).status, 200);
    let stats = fake.stats().expect("stats");
    assert_eq!(
        stats
            .by_target
            .get(sts::ASSUME_ROLE_WITH_WEB_IDENTITY_TARGET),
        Some(&2)
    );
    assert_eq!(stats.by_access_key.get(&first.key), Some(&1));
    assert_eq!(stats.by_access_key.get(&second.key), None);
    assert_eq!(stats.web_identity_requests[0].access_key, None, "unsigned");
    assert_eq!(
        stats.web_identity_requests[0].subject.as_deref(),
        Some(subject.as_str())
    );
    assert_eq!(
        fake.keys_issued_to(ROLE, &subject).expect("stats"),
        vec![first.key.clone()]
    );
    let record = serde_json::to_string(&stats).expect("stats serialize");
    assert!(!record.contains(&puller), "the stats never hold a token");
}

#[test]
fn web_identity_errors_have_the_sts_shape() {
    let allowed = service_account_token::subject("shop", "puller");
    let fake = FakeEcr::builder()
        .role_subject(ROLE, &allowed)
        .rejected_subject(service_account_token::subject("shop", "revoked"))
        .start()
        .expect("fake-ecr starts");
    assume_role_with_web_identity(&fake, ROLE, "not-a-jwt").assert_error(
        400,
        "InvalidIdentityToken",
        "The ID Token provided is not a valid JWT",
    );
    assume_role_with_web_identity(
        &fake,
        ROLE,
        &service_account_token::token("shop", "revoked"),
    )
    .assert_error(400, "InvalidIdentityToken", "verification key");
    assume_role_with_web_identity(&fake, ROLE, &service_account_token::token("shop", "other"))
        .assert_error(
            403,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        );
    let expired = service_account_token::with_claims(&serde_json::json!({
        "sub": allowed, "exp": 1_000_000_000u64,
    }));
    assume_role_with_web_identity(&fake, ROLE, &expired).assert_error(
        400,
        "ExpiredTokenException",
        "Token expired",
    );
    let granted =
        assume_role_with_web_identity(&fake, ROLE, &service_account_token::token("shop", "puller"));
    assert_eq!(granted.status, 200, "{granted:?}");
    // Other STS actions still need a signature.
    sts_call(&fake, None, None, &[("Action", "GetCallerIdentity")]).assert_error(
        403,
        "MissingAuthenticationToken",
        "Request is missing Authentication Token",
    );
    let outcomes: Vec<String> = fake
        .web_identity_requests()
        .expect("stats")
        .into_iter()
        .map(|r| r.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            "InvalidIdentityToken",
            "InvalidIdentityToken",
            "AccessDenied",
            "ExpiredTokenException",
            "ok"
        ]
    );
}
