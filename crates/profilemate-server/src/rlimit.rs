//! Provides [`raise_open_file_limit`]: the soft open-file limit raised to the hard limit, so
//! a server holding many connections does not run out of descriptors at the usual soft 1024
//! (vLLM 0.32 raises it at start too, to 65535, warning when it cannot: `set_ulimit` in
//! vllm/utils/system_utils.py; we take the whole hard limit).

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit; returns the limit now in
/// force (`None`: unlimited).
#[cfg(unix)]
pub fn raise_open_file_limit() -> std::io::Result<Option<u64>> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit)?;
    }
    Ok(limit.current)
}

/// Raises this process's open-file limit: nothing to do where there is no `RLIMIT_NOFILE`.
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> std::io::Result<Option<u64>> {
    Ok(None)
}

#[cfg(all(test, unix))]
mod tests {
    use rustix::process::{Resource, getrlimit};

    use super::raise_open_file_limit;

    #[test]
    fn the_soft_open_file_limit_equals_the_hard_limit_after_raising() {
        let now = raise_open_file_limit().expect("raising to the hard limit is allowed");
        let limit = getrlimit(Resource::Nofile);
        assert_eq!(limit.current, limit.maximum);
        assert_eq!(now, limit.maximum);
    }
}
