//! The credential-helper protocol's input: `store`'s JSON request and the server address of
//! `get`/`erase`. An accepted request carries exactly the three string fields a JSON parser
//! reads there (by name, or in order from an array, which serde also accepts); a refused one is described without quoting the input (which may hold a secret).
#![no_main]

use ecr_model::helper_protocol::{ProtocolError, parse_store_request, server_address};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    check_store(input);
    check_address(input);
});

fn check_store(input: &str) {
    match parse_store_request(input) {
        Ok(request) => {
            let value: Value = match serde_json::from_str(input) {
                Ok(value) => value,
                Err(e) => panic!("accepted input is not JSON: {e}"),
            };
            // serde also reads a struct from an array of its fields in order, so
            // `["url","user","secret"]` is accepted too (lenient, and harmless).
            let fields = match &value {
                Value::Object(o) => [&o["ServerURL"], &o["Username"], &o["Secret"]],
                Value::Array(items) if items.len() == 3 => [&items[0], &items[1], &items[2]],
                other => panic!("accepted {other:?}"),
            };
            assert_eq!(fields[0].as_str(), Some(request.server_url.as_str()));
            assert_eq!(fields[1].as_str(), Some(request.username.as_str()));
            assert_eq!(fields[2].as_str(), Some(request.secret.as_str()));
        }
        Err(error) => {
            let ProtocolError::BadStoreRequest { what, line, column } = &error else {
                panic!("store refused with {error:?}");
            };
            let message = error.to_string();
            let expected = format!(
                "invalid input for store: expected JSON {{\"ServerURL\",\"Username\",\"Secret\"}} ({what} at line {line} column {column})"
            );
            assert_eq!(message, expected, "the message is the template only");
            assert!(
                [
                    "read error",
                    "syntax error",
                    "missing or mistyped field",
                    "truncated input"
                ]
                .contains(what)
            );
        }
    }
}

fn check_address(input: &str) {
    match server_address(input) {
        Ok(address) => {
            assert!(!address.is_empty());
            assert_eq!(address, address.trim());
            assert!(!address.contains(['\n', '\r']));
            assert_eq!(address, input.trim());
        }
        Err(ProtocolError::NoAddress) => assert!(input.trim().is_empty()),
        Err(ProtocolError::SeveralLines) => {
            assert!(input.trim().contains(['\n', '\r']))
        }
        Err(other) => panic!("{other:?} for an address"),
    }
}
