//! Helpers shared by the CLI test binaries.

use std::process::Output;

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
