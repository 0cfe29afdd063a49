//! Parses the compact batch syntax of `estimate` (`--prefill 2048 --decode 255@4000`).

use anyhow::{Context, bail};
use profilemate_model::ExecutionContext;
use profilemate_model::limits::{self, MAX_REQUESTS, MAX_TOKENS};

/// Builds the step's context: prefills first, then decodes, in flag order.
pub(crate) fn context(prefills: &[String], decodes: &[String]) -> anyhow::Result<ExecutionContext> {
    let mut ctx = ExecutionContext::new();
    for spec in prefills {
        let (tokens, context_len) =
            parse_prefill(spec).with_context(|| format!("invalid --prefill `{spec}`"))?;
        ctx.add(tokens, context_len, true);
    }
    for spec in decodes {
        let (count, context_len) =
            parse_decode(spec).with_context(|| format!("invalid --decode `{spec}`"))?;
        for _ in 0..count {
            ctx.add(1, context_len, false);
        }
    }
    if ctx.is_empty() {
        bail!(
            "the batch is empty: give at least one --prefill TOKENS[@CONTEXT] or --decode COUNT@CONTEXT"
        );
    }
    limits::check_batch(&ctx).context("--prefill/--decode")?;
    Ok(ctx)
}

/// `TOKENS` or `TOKENS@CONTEXT`, with `CONTEXT >= TOKENS`.
fn parse_prefill(spec: &str) -> anyhow::Result<(u64, u64)> {
    let (tokens, context_len) = match spec.split_once('@') {
        Some((t, c)) => (positive(t, "TOKENS")?, positive(c, "CONTEXT")?),
        None => {
            let t = positive(spec, "TOKENS")?;
            (t, t)
        }
    };
    if context_len < tokens {
        bail!(
            "CONTEXT ({context_len}) is the context length after the step, so it must be at least TOKENS ({tokens})"
        );
    }
    Ok((tokens, context_len))
}

/// `COUNT@CONTEXT`.
fn parse_decode(spec: &str) -> anyhow::Result<(u64, u64)> {
    let Some((count, context_len)) = spec.split_once('@') else {
        bail!("expected COUNT@CONTEXT, e.g. 255@4000");
    };
    let count = positive(count, "COUNT")?;
    if count > MAX_REQUESTS {
        bail!("COUNT {count} is more requests than any step schedules (at most {MAX_REQUESTS})");
    }
    Ok((count, positive(context_len, "CONTEXT")?))
}

fn positive(text: &str, what: &str) -> anyhow::Result<u64> {
    let value: u64 = text
        .trim()
        .parse()
        .with_context(|| format!("{what} must be a positive integer, got `{text}`"))?;
    if value == 0 {
        bail!("{what} must be at least 1");
    }
    if value > MAX_TOKENS {
        bail!(
            "{what} {value} is more tokens than any step or context holds (at most {MAX_TOKENS})"
        );
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_syntax() {
        let ctx = context(&["2048".into(), "512@4096".into()], &["3@100".into()]).unwrap();
        assert_eq!(ctx.num_prefill_requests, 2);
        assert_eq!(ctx.prefill_num_tokens, 2560);
        assert_eq!(ctx.prefill_context_len, 2048 + 4096);
        assert_eq!(ctx.num_decode_requests, 3);
        assert_eq!(ctx.decode_context_len, 300);
    }

    #[test]
    fn bad_values_name_the_flag_and_part() {
        let err = format!("{:#}", context(&["0".into()], &[]).unwrap_err());
        assert!(
            err.contains("--prefill `0`") && err.contains("TOKENS"),
            "{err}"
        );
        let err = format!("{:#}", context(&[], &["-3@10".into()]).unwrap_err());
        assert!(err.contains("COUNT"), "{err}");
        let err = format!("{:#}", context(&[], &["5".into()]).unwrap_err());
        assert!(err.contains("COUNT@CONTEXT"), "{err}");
        let err = format!("{:#}", context(&["100@10".into()], &[]).unwrap_err());
        assert!(err.contains("at least TOKENS"), "{err}");
        assert!(context(&[], &[]).is_err());
    }
}
