//! A rewritten file keeps the numbers of keys the product does not know exactly as they were.
//! Found by the `product_config` fuzz target: without serde_json's `float_roundtrip`, a long
//! number such as the first below was read one unit in the last place off and written back so.

use std::fs;

use ecr_model::client_config::{ClientConfig, ClientKind};
use ecr_model::config::ConfigFile;
use serde_json::Value;

/// Numbers that serde_json's default (fast) float parser reads one unit in the last place off.
const NUMBERS: &[&str] = &[
    "7200099999999999999999999999999999999999999999999999999999999999999999999999999999900000",
    "2.2250738585072014e-308",
];

fn document() -> String {
    format!("{{\"future\": [{}]}}", NUMBERS.join(", "))
}

/// The numbers of `future` as written, read by std's exact parser.
fn numbers(bytes: &[u8]) -> Vec<f64> {
    let value: Value = serde_json::from_slice(bytes).expect("JSON");
    value["future"]
        .as_array()
        .expect("kept")
        .iter()
        .map(|n| n.to_string().parse::<f64>().expect("a number"))
        .collect()
}

fn expected() -> Vec<f64> {
    NUMBERS.iter().map(|n| n.parse::<f64>().unwrap()).collect()
}

#[test]
fn the_product_config_keeps_unknown_numbers_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    fs::write(&path, document()).unwrap();
    let file = ConfigFile::new(&path);
    file.update(|c| {
        c.refresh_margin = Some("1h".into());
        Ok::<_, ()>(())
    })
    .unwrap()
    .unwrap();
    // std's parser is exact: the rewritten file must say the same numbers.
    assert_eq!(numbers(&fs::read(&path).unwrap()), expected());
}

#[test]
fn a_clients_config_keeps_its_numbers_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    fs::write(&path, document()).unwrap();
    let config = ClientConfig::new(ClientKind::Docker, &path);
    let report = config
        .route(
            &["123456789012.dkr.ecr.us-east-1.amazonaws.com".to_string()],
            "ecr",
        )
        .unwrap();
    assert!(report.changed());
    assert_eq!(numbers(&fs::read(&path).unwrap()), expected());
}
