//! Docker's credential-helper protocol: parsing what it hands a helper on stdin (the server
//! address of `get` and `erase`, the JSON request of `store`), and `get`'s answer. Errors never
//! quote the input, which may hold a secret.

use serde::{Deserialize, Serialize};

/// The most stdin a verb reads; anything longer is refused, not truncated.
pub const MAX_INPUT: usize = 1 << 20;

/// `get`'s answer for a host the helper has no credentials for: docker then goes on
/// anonymously (the exact words docker-credential-helpers use).
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// The username of every ECR token.
pub const ECR_USERNAME: &str = "AWS";

/// `get`'s answer.
#[derive(Serialize)]
pub struct CredentialsAnswer<'a> {
    #[serde(rename = "ServerURL")]
    pub server_url: &'a str,
    #[serde(rename = "Username")]
    pub username: &'a str,
    #[serde(rename = "Secret")]
    pub secret: &'a str,
}

/// `store`'s input.
#[derive(Deserialize)]
pub struct StoreRequest {
    #[serde(rename = "ServerURL")]
    pub server_url: String,
    #[serde(rename = "Username")]
    pub username: String,
    #[serde(rename = "Secret")]
    pub secret: String,
}

/// Input the protocol cannot accept, described without quoting it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("no registry address on stdin")]
    NoAddress,
    #[error("expected one registry address on stdin, got several lines")]
    SeveralLines,
    #[error(
        "invalid input for store: expected JSON {{\"ServerURL\",\"Username\",\"Secret\"}} ({what} at line {line} column {column})"
    )]
    BadStoreRequest {
        what: &'static str,
        line: usize,
        column: usize,
    },
}

/// The server address of `get` and `erase`: one line, trimmed.
pub fn server_address(input: &str) -> Result<&str, ProtocolError> {
    let address = input.trim();
    if address.is_empty() {
        return Err(ProtocolError::NoAddress);
    }
    if address.contains(['\n', '\r']) {
        return Err(ProtocolError::SeveralLines);
    }
    Ok(address)
}

/// `store`'s JSON request. The whole input must be valid JSON: serde skips an unknown
/// field's value without checking all of it (a lone surrogate escape, a number out of range),
/// so the typed read is followed by a full one.
pub fn parse_store_request(input: &str) -> Result<StoreRequest, ProtocolError> {
    let request = serde_json::from_str(input).map_err(bad_store_request)?;
    serde_json::from_str::<serde_json::Value>(input).map_err(bad_store_request)?;
    Ok(request)
}

/// serde's messages can quote the input: report the position only.
fn bad_store_request(e: serde_json::Error) -> ProtocolError {
    ProtocolError::BadStoreRequest {
        what: json_error_kind(&e),
        line: e.line(),
        column: e.column(),
    }
}

/// What went wrong reading JSON, in words that never quote the input (serde's own messages
/// can), for an error that gives the position instead.
pub(crate) fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "missing or mistyped field",
        serde_json::error::Category::Eof => "truncated input",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_address_is_one_trimmed_line() {
        assert_eq!(server_address("host\n").unwrap(), "host");
        assert_eq!(
            server_address("  https://host/x \r\n").unwrap(),
            "https://host/x"
        );
        assert_eq!(server_address(""), Err(ProtocolError::NoAddress));
        assert_eq!(server_address(" \n"), Err(ProtocolError::NoAddress));
        assert_eq!(server_address("a\nb"), Err(ProtocolError::SeveralLines));
    }

    #[test]
    fn store_errors_never_quote_the_input() {
        let secret = "s3cr3t-value";
        for input in [
            format!(r#"{{"ServerURL":"h","Username":"AWS","Secret":{secret}}}"#),
            format!(r#"{{"ServerURL":"h","Username":"AWS","Secret":"{secret}""#),
            format!(r#"{{"ServerURL":"h","Username":["{secret}"],"Secret":"x"}}"#),
        ] {
            let error = parse_store_request(&input).err().expect("refused");
            assert!(!error.to_string().contains(secret), "{error}");
        }
        assert!(parse_store_request(r#"{"ServerURL":"h","Username":"AWS","Secret":"x"}"#).is_ok());
    }

    #[test]
    fn store_refuses_invalid_json_in_an_unknown_field() {
        // Found by the store_request fuzz target: serde skips an unknown field's string
        // without checking that a lead surrogate escape is followed by a trail one.
        for input in [
            r#"{"ServerURL":"h","Username":"AWS","Other":"\udaccS","Secret":"x"}"#,
            r#"{"ServerURL":"h","Username":"AWS","Other":1e400,"Secret":"x"}"#,
        ] {
            let error = parse_store_request(input).err().expect("refused");
            assert!(
                matches!(error, ProtocolError::BadStoreRequest { line: 1, .. }),
                "{error:?}"
            );
        }
    }
}
