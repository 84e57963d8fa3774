//! The API listener's request handler: what the AWS SDK and the Go helper talk to.
//!
//! This module owns one request from headers to answer: tell the protocol (an `X-Amz-Target`
//! header: awsJson1_1, ECR and ECR Public; else a form body or an `sts` credential scope:
//! awsQuery, STS), read the SigV4 credential and session token, count the call, ask
//! [`State::plan`] what to do, wait the latency, and write the answer (JSON or XML) with `Date`
//! (on the server's possibly skewed clock) and `x-amzn-RequestId`. It never fails: every problem
//! becomes an AWS error response.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, DATE, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use super::clock::ServerClock;
use super::state::{Api, Call, Outcome, State};
use super::sts::{self, Form};
use super::wire::{self, AwsError, Grant, Operation, TokenRequest};

/// Largest request body read; GetAuthorizationToken bodies are tiny.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Answers one API request.
pub async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await;
    let call = read_call(&parts.headers, body.as_deref().unwrap_or_default());
    state.record(&call);
    let plan = state.plan(&call);
    tokio::time::sleep(plan.latency).await;
    let clock = ServerClock {
        offset_secs: plan.date_offset_secs,
    };
    let response = match plan.outcome {
        Outcome::Hang => hang().await,
        Outcome::Error(error) => error_response(error, &clock),
        Outcome::Images(page) => json_response(StatusCode::OK, &page.body(), &clock),
        Outcome::Token {
            operation,
            region,
            password,
            lifetime_secs,
        } => {
            let grant = Grant {
                password: &password,
                expires_at: clock.epoch_secs() + lifetime_secs as f64,
            };
            let answer = body.and_then(|body| success_body(operation, &grant, &body, &region));
            match answer {
                Ok(json) => json_response(StatusCode::OK, &json, &clock),
                Err(error) => error_response(error, &clock),
            }
        }
        Outcome::Assumed { credentials, user } => xml_response(StatusCode::OK, &clock, |id| {
            sts::assume_role_body(&credentials, &user, id)
        }),
        Outcome::AssumedWithWebIdentity {
            credentials,
            user,
            claims,
        } => xml_response(StatusCode::OK, &clock, |id| {
            sts::assume_role_with_web_identity_body(&credentials, &user, &claims, id)
        }),
        Outcome::CallerIdentity(identity) => xml_response(StatusCode::OK, &clock, |id| {
            sts::caller_identity_body(&identity, id)
        }),
        Outcome::StsError(error) => xml_response(error.status(), &clock, |id| error.body(id)),
    };
    Ok(response)
}

/// Reads what the plan depends on from the request headers and body.
fn read_call(headers: &HeaderMap, body: &[u8]) -> Call {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let credential = text("authorization").and_then(wire::parse_authorization);
    let target = text("x-amz-target").map(str::to_owned);
    let form_body = text("content-type").is_some_and(|content_type| {
        content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let sts_scope = credential
        .as_ref()
        .is_some_and(|credential| credential.service == "sts");
    let api = match target {
        None if form_body || sts_scope => Api::Query(Form::parse(body)),
        target => Api::Json {
            target,
            body: body.to_vec(),
        },
    };
    Call {
        credential,
        security_token: text("x-amz-security-token").map(str::to_owned),
        api,
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, AwsError> {
    Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|_| AwsError::Serialization)
}

fn success_body(
    operation: Operation,
    grant: &Grant<'_>,
    body: &[u8],
    region: &str,
) -> Result<Value, AwsError> {
    let request = TokenRequest::parse(body)?;
    Ok(match operation {
        Operation::EcrGetAuthorizationToken => grant.ecr_body(&request, region),
        Operation::EcrPublicGetAuthorizationToken => grant.ecr_public_body(),
        // Answered as `Outcome::Images`, never as a token.
        Operation::EcrDescribeImages => return Err(AwsError::UnknownOperation),
    })
}

/// Never answers; the connection task lives until the client hangs up or the server stops.
async fn hang() -> Response<Full<Bytes>> {
    match std::future::pending::<Infallible>().await {}
}

fn error_response(error: AwsError, clock: &ServerClock) -> Response<Full<Bytes>> {
    let mut response = json_response(error.status(), &error.body(), clock);
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(error.code()));
    response
}

fn json_response(status: StatusCode, json: &Value, clock: &ServerClock) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(json.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(wire::CONTENT_TYPE));
    headers.insert(DATE, ascii_header(httpdate::fmt_http_date(clock.now())));
    headers.insert("x-amzn-requestid", ascii_header(request_id()));
    response
}

/// An awsQuery (XML) answer; `body` gets the request id, which the header repeats.
fn xml_response(
    status: StatusCode,
    clock: &ServerClock,
    body: impl FnOnce(&str) -> String,
) -> Response<Full<Bytes>> {
    let id = request_id();
    let mut response = Response::new(Full::new(Bytes::from(body(&id))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(sts::CONTENT_TYPE));
    headers.insert(DATE, ascii_header(httpdate::fmt_http_date(clock.now())));
    headers.insert("x-amzn-requestid", ascii_header(id));
    response
}

/// Header values this module builds are ASCII by construction (http-dates, hex digits).
fn ascii_header(value: String) -> HeaderValue {
    HeaderValue::try_from(value).expect("http-dates and request ids are visible ASCII")
}

/// A fresh UUID-shaped request id (unique per process, not random).
fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let high = splitmix64(nanos ^ u64::from(std::process::id()));
    let low = splitmix64(high ^ count);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        low >> 52,
        low & 0xffff_ffff_ffff
    )
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_shaped_and_distinct() {
        let first = request_id();
        assert_eq!(first.len(), 36);
        assert_eq!(first.matches('-').count(), 4);
        assert_ne!(first, request_id());
    }
}
