//! Helpers shared by the CLI test binaries (each binary uses some of them).
#![allow(dead_code)]

use std::process::Output;

use assert_cmd::Command;

/// The stdout of a run that must have exited 0; fails showing stdout and stderr otherwise.
#[track_caller]
pub(crate) fn success_stdout(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `profilemate ARGS` and asserts it fails with exit status 2 and a message holding every
/// one of `needles`.
#[track_caller]
pub(crate) fn fails_naming(args: &[&str], needles: &[&str]) {
    let out = Command::cargo_bin("profilemate")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    }
}
