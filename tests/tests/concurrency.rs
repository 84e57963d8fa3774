//! Single flight: N concurrent cold `get`s of one registry make one API call.

use std::time::Duration;

use ecr_e2e::fake::KnobsPatch;
use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, Sandbox};

#[test]
fn thirty_two_concurrent_cold_gets_make_exactly_one_call() {
    let fake = FakeEcr::builder()
        .password("single-flight")
        .start()
        .unwrap();
    fake.set_knobs(&KnobsPatch {
        latency_ms: Some(200),
        ..Default::default()
    })
    .unwrap();
    let sandbox = Sandbox::new();
    let runs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let helper = sandbox.helper().against(&fake.url());
                scope.spawn(move || helper.get(EXAMPLE_REGISTRY))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &runs {
        assert_eq!(run.secret(), "single-flight");
        assert!(run.elapsed < Duration::from_secs(10));
    }
    assert_eq!(fake.stats().unwrap().calls, 1, "one API call for 32 gets");
}
