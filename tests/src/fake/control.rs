//! The control listener's request handler: how tests steer and observe the fake.
//!
//! Plain HTTP on loopback, JSON in and out: `GET /stats`, `POST /reset` (zero the counters),
//! `GET /knobs`, `POST /knobs` (a partial knob set; answers the full set). Control requests are
//! never counted as API calls.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::json;

use super::knobs::KnobsPatch;
use super::state::State;

/// Largest knob patch read.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Answers one control request.
pub async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let response = match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/stats") => json_ok(&state.stats()),
        (&Method::POST, "/reset") => {
            state.reset_stats();
            json_ok(&state.stats())
        }
        (&Method::GET, "/knobs") => json_ok(&state.knobs()),
        (&Method::POST, "/knobs") => match read_patch(body).await {
            Ok(patch) => json_ok(&state.patch_knobs(patch)),
            Err(message) => problem(StatusCode::BAD_REQUEST, &message),
        },
        (method, path) => problem(
            StatusCode::NOT_FOUND,
            &format!("no control endpoint {method} {path}"),
        ),
    };
    Ok(response)
}

async fn read_patch(body: Incoming) -> Result<KnobsPatch, String> {
    let bytes = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|error| format!("cannot read the request body: {error}"))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|error| format!("invalid knobs: {error}"))
}

fn json_ok(value: &impl Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(bytes) => json_response(StatusCode::OK, bytes),
        Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

fn problem(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, json!({ "error": message }).to_string().into_bytes())
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
