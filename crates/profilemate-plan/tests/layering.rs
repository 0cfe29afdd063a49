//! The crates' one-way dependencies (ARCHITECTURE.md): the load generator never depends on the
//! engine, whatever path it would take; this crate is where the two meet.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The workspace crates `krate` depends on (normal dependencies, not dev or build ones), read
/// from its `Cargo.toml`.
fn direct_deps(krate: &str) -> BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut section = String::new();
    let mut deps = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if section == "[dependencies]"
            && let Some((name, _)) = line.split_once('=')
            && name.trim().starts_with("profilemate-")
        {
            deps.insert(name.trim().to_owned());
        }
    }
    deps
}

/// Every workspace crate `krate` depends on, directly or not.
fn all_deps(krate: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![krate.to_owned()];
    while let Some(k) = todo.pop() {
        for d in direct_deps(&k) {
            if seen.insert(d.clone()) {
                todo.push(d);
            }
        }
    }
    seen
}

#[test]
fn bench_does_not_depend_on_the_engine_and_plan_sits_above_both() {
    let bench = all_deps("profilemate-bench");
    assert!(bench.contains("profilemate-metrics"), "{bench:?}");
    for engine_side in ["profilemate-sim", "profilemate-server", "profilemate-plan"] {
        assert!(
            !bench.contains(engine_side),
            "bench depends on {engine_side}"
        );
    }
    let sim = all_deps("profilemate-sim");
    assert!(!sim.contains("profilemate-bench"), "{sim:?}");
    let plan = direct_deps("profilemate-plan");
    assert!(plan.contains("profilemate-bench") && plan.contains("profilemate-sim"));
}
