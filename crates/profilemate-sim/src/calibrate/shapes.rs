//! Rebuilds each logged iteration's per-request shape ([`IterationShape`]) from the four counts
//! of vLLM's `Iteration(N)` lines, which never name a request ([`ShapeTracker`]).
//!
//! What vLLM 0.32's scheduler does and the tracker follows:
//!
//! - **Chunked prefill.** A step whose scheduled tokens fill the token budget
//!   (`--max-num-batched-tokens`) while it has context requests cut the last of them, unless the
//!   next step has no context request (then the last prompt fit the budget exactly and
//!   completed): that prompt continues in the next step, scheduled first (it is in the running
//!   queue), with the chunk already computed as its context. At most one prompt is in progress at a time (only the last
//!   scheduled request can be cut, and a continuing prompt is scheduled before any new one).
//! - **Chunk sizes.** A continuing prompt alone takes all the step's context tokens; beside new
//!   prompts it takes what is left of the typical prompt (the log's context tokens over the
//!   prompts it started). New prompts that complete take a typical prompt each, the cut one the
//!   rest; without a cut they share the tokens evenly.
//! - **Decode contexts.** A prompt that completes joins the generation requests in the next step
//!   with its whole prompt as context; every generation token adds one token of context; when the
//!   number of generation requests falls, the oldest leave first (equal output lengths finish in
//!   admission order); a request that joins without a completed prompt (resumed after a
//!   preemption) comes in at the mean context.
//!
//! On the run2-sched capture the shapes equal the simulator's exact ones for all 125 iterations
//! (tests/calibrate_shapes.rs). Known limit: whole prompts plus decodes that fill the budget
//! exactly, step after step (equal prompts of such a length under saturation), are taken as
//! cuts, which inflates the decode contexts (docs/accuracy.md).

use std::collections::VecDeque;

use profilemate_model::StepRequest;

use crate::batch::IterationCounts;

/// One iteration's requests as the step-time model prices them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IterationShape {
    /// Context (prefill) requests: context already computed and tokens scheduled, continuing
    /// prompt first.
    pub prefill: Vec<StepRequest>,
    /// Generation (decode) requests: context already computed and tokens scheduled.
    pub decode: Vec<StepRequest>,
}

/// Follows prompts and decode contexts through a log's iterations (see the module docs).
#[derive(Debug, Clone)]
pub struct ShapeTracker {
    budget: u32,
    typical_prompt: f64,
    /// Context of the prompt cut in the previous step, if one was.
    in_progress: Option<f64>,
    /// Whole prompt lengths that completed in the previous step.
    completed: Vec<f64>,
    /// Contexts of the generation requests, oldest first.
    members: VecDeque<f64>,
}

impl ShapeTracker {
    /// A tracker for a log whose iterations are `counts`, scheduled with a token budget of
    /// `budget` (`--max-num-batched-tokens`).
    pub fn new(budget: u32, counts: &[IterationCounts]) -> Self {
        Self::with_typical_prompt(budget, typical_prompt(budget, counts))
    }

    /// A tracker that assumes prompts of `typical_prompt` tokens where the counts do not tell.
    pub fn with_typical_prompt(budget: u32, typical_prompt: f64) -> Self {
        ShapeTracker {
            budget,
            typical_prompt,
            in_progress: None,
            completed: Vec::new(),
            members: VecDeque::new(),
        }
    }

    /// The mean prompt length the tracker assumes where the counts do not tell.
    pub fn typical_prompt(&self) -> f64 {
        self.typical_prompt
    }

    /// The shape of the next iteration, whose counts are `c`, without a look at the one after
    /// it (a step that fills the budget is taken to cut its last prompt).
    pub fn next(&mut self, c: &IterationCounts) -> IterationShape {
        self.next_before(c, None)
    }

    /// The shape of the next iteration, whose counts are `c`, followed by an iteration with
    /// counts `following` (`None` at the log's end): a step that fills the budget cut its last
    /// prompt only if the following step has a context request to continue it.
    pub fn next_before(
        &mut self,
        c: &IterationCounts,
        following: Option<&IterationCounts>,
    ) -> IterationShape {
        let decode = self.decode(c);
        let prefill = self.prefill(c, following);
        IterationShape {
            prefill: prefill.iter().map(|&(ctx, t)| request(ctx, t)).collect(),
            decode,
        }
    }

    fn decode(&mut self, c: &IterationCounts) -> Vec<StepRequest> {
        self.members.extend(self.completed.drain(..));
        let g = c.num_generation_requests as usize;
        while self.members.len() > g {
            self.members.pop_front();
        }
        if self.members.len() < g {
            let n = self.members.len();
            let mean = if n == 0 {
                0.0
            } else {
                self.members.iter().sum::<f64>() / n as f64
            };
            self.members.resize(g, mean);
        }
        let per = if g == 0 {
            0.0
        } else {
            f64::from(c.num_generation_tokens) / g as f64
        };
        let mut out = Vec::with_capacity(g);
        let mut given = 0.0;
        for (i, m) in self.members.iter_mut().enumerate() {
            // Whole tokens, the remainder to the first requests, as split_evenly did.
            let upto = (per * (i + 1) as f64).round();
            let tokens = upto - given;
            given = upto;
            out.push(request(*m, tokens));
            *m += tokens;
        }
        out
    }

    /// `(context, tokens)` of each context request; updates the in-progress prompt and the
    /// prompts that complete.
    fn prefill(
        &mut self,
        c: &IterationCounts,
        following: Option<&IterationCounts>,
    ) -> Vec<(f64, f64)> {
        let requests = c.num_ctx_requests as usize;
        let mut tokens = f64::from(c.num_ctx_tokens);
        let mut out = Vec::with_capacity(requests);
        let mut fresh = requests;
        if let (Some(ctx), true) = (self.in_progress.take(), requests > 0) {
            let chunk = if requests == 1 {
                tokens
            } else {
                (self.typical_prompt - ctx)
                    .max(1.0)
                    .min(tokens - (requests - 1) as f64)
                    .round()
            };
            out.push((ctx, chunk));
            tokens -= chunk;
            fresh -= 1;
        }
        let cut = requests > 0 && cuts(self.budget, c, following);
        if fresh > 0 {
            if cut && fresh > 1 {
                let whole = self
                    .typical_prompt
                    .min((tokens - 1.0) / (fresh - 1) as f64)
                    .round();
                out.extend(std::iter::repeat_n((0.0, whole), fresh - 1));
                out.push((0.0, tokens - whole * (fresh - 1) as f64));
            } else {
                let share = tokens / fresh as f64;
                out.extend(std::iter::repeat_n((0.0, share), fresh));
            }
        }
        let done = if cut {
            let &(ctx, t) = out.last().expect("requests > 0");
            self.in_progress = Some(ctx + t);
            &out[..out.len() - 1]
        } else {
            &out[..]
        };
        self.completed = done.iter().map(|(ctx, t)| ctx + t).collect();
        out
    }
}

/// Whether step `c` cut its last prompt: it filled the budget with context requests, and the
/// step after it (if known) has a context request to continue it.
fn cuts(budget: u32, c: &IterationCounts, following: Option<&IterationCounts>) -> bool {
    let fills =
        u64::from(c.num_ctx_tokens) + u64::from(c.num_generation_tokens) >= u64::from(budget);
    c.num_ctx_requests > 0 && fills && following.is_none_or(|f| f.num_ctx_requests > 0)
}

/// The log's context tokens over the prompts it started: a step that filled the budget with
/// context requests cut one, which the next step continues instead of starting.
fn typical_prompt(budget: u32, counts: &[IterationCounts]) -> f64 {
    let (mut started, mut tokens, mut continues) = (0u64, 0u64, false);
    for (i, c) in counts.iter().enumerate() {
        let continuing = u64::from(continues && c.num_ctx_requests > 0);
        started += u64::from(c.num_ctx_requests) - continuing;
        tokens += u64::from(c.num_ctx_tokens);
        continues = cuts(budget, c, counts.get(i + 1));
    }
    tokens as f64 / started.max(1) as f64
}

fn request(context: f64, tokens: f64) -> StepRequest {
    StepRequest {
        num_computed_tokens: context.max(0.0).round() as u64,
        num_scheduled_tokens: tokens.max(0.0).round() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(c: u32, ct: u32, g: u32, gt: u32) -> IterationCounts {
        IterationCounts {
            num_ctx_requests: c,
            num_ctx_tokens: ct,
            num_generation_requests: g,
            num_generation_tokens: gt,
        }
    }

    fn pairs(v: &[StepRequest]) -> Vec<(u64, u64)> {
        v.iter()
            .map(|r| (r.num_computed_tokens, r.num_scheduled_tokens))
            .collect()
    }

    #[test]
    fn a_long_prompt_continues_with_its_chunk_as_context() {
        // run4-long's start: a 700-token prompt in chunks of 512 and 188, then a second one
        // beside the first's decode, then both decode.
        let log = [
            counts(1, 512, 0, 0),
            counts(1, 188, 0, 0),
            counts(1, 511, 1, 1),
            counts(1, 189, 1, 1),
            counts(0, 0, 2, 2),
        ];
        let mut t = ShapeTracker::new(512, &log);
        assert_eq!(t.typical_prompt(), 700.0);
        let s: Vec<IterationShape> = log.iter().map(|c| t.next(c)).collect();
        assert_eq!(pairs(&s[0].prefill), [(0, 512)]);
        assert_eq!(pairs(&s[1].prefill), [(512, 188)]);
        assert_eq!(pairs(&s[2].prefill), [(0, 511)]);
        assert_eq!(pairs(&s[2].decode), [(700, 1)]);
        assert_eq!(pairs(&s[3].prefill), [(511, 189)]);
        assert_eq!(pairs(&s[3].decode), [(701, 1)]);
        assert_eq!(pairs(&s[4].decode), [(702, 1), (700, 1)]);
    }

    #[test]
    fn new_prompts_beside_a_continuing_one_take_whole_prompts_and_the_cut_the_rest() {
        // run2-sched's start: 300-token prompts, a 512-token budget.
        let log = [
            counts(1, 300, 0, 0),
            counts(2, 511, 1, 1),
            counts(3, 510, 2, 2),
            counts(3, 508, 4, 4),
        ];
        // The first steps alone count the prompt still in progress as started.
        assert!(ShapeTracker::new(512, &log).typical_prompt() < 300.0);
        let mut t = ShapeTracker::with_typical_prompt(512, 300.0);
        let s: Vec<IterationShape> = log.iter().map(|c| t.next(c)).collect();
        assert_eq!(pairs(&s[1].prefill), [(0, 300), (0, 211)]);
        assert_eq!(pairs(&s[2].prefill), [(211, 89), (0, 300), (0, 121)]);
        assert_eq!(pairs(&s[2].decode), [(301, 1), (300, 1)]);
        assert_eq!(pairs(&s[3].prefill), [(121, 179), (0, 300), (0, 29)]);
        assert_eq!(
            pairs(&s[3].decode),
            [(302, 1), (301, 1), (300, 1), (300, 1)]
        );
    }

    #[test]
    fn a_prompt_that_fits_the_budget_exactly_completes_when_no_context_request_follows() {
        // Seven decodes and a 505-token prompt fill a 512-token budget; the next step decodes
        // all eight: the prompt completed, it was not cut.
        let log = [
            counts(1, 505, 7, 7),
            counts(0, 0, 8, 8),
            counts(1, 505, 7, 7),
            counts(1, 100, 7, 7),
        ];
        let mut t = ShapeTracker::with_typical_prompt(512, 505.0);
        let s: Vec<IterationShape> = log
            .iter()
            .zip(1..)
            .map(|(c, i)| t.next_before(c, log.get(i)))
            .collect();
        assert_eq!(pairs(&s[0].prefill), [(0, 505)]);
        // The prompt joined the decodes with its whole prompt as context.
        assert!(pairs(&s[1].decode).contains(&(505, 1)), "{:?}", s[1].decode);
        // Followed by a context request, the same counts are a cut: it continues.
        assert_eq!(pairs(&s[3].prefill), [(505, 100)]);
        // Without the look ahead every budget-filling step is taken as a cut.
        let mut blind = ShapeTracker::with_typical_prompt(512, 505.0);
        blind.next(&log[0]);
        assert!(!pairs(&blind.next(&log[1]).decode).contains(&(505, 1)));
    }

    #[test]
    fn leavers_are_the_oldest_and_resumed_requests_come_in_at_the_mean() {
        let log = [
            counts(2, 300, 0, 0),
            counts(0, 0, 2, 2),
            counts(1, 100, 1, 1),
            counts(0, 0, 3, 3),
        ];
        let mut t = ShapeTracker::new(512, &log);
        let s: Vec<IterationShape> = log.iter().map(|c| t.next(c)).collect();
        assert_eq!(pairs(&s[1].decode), [(150, 1), (150, 1)]);
        // One of the two left; the survivor has 151.
        assert_eq!(pairs(&s[2].decode), [(151, 1)]);
        // The 100-token prompt joins, and one more comes back at the mean of (152, 100).
        assert_eq!(pairs(&s[3].decode), [(152, 1), (100, 1), (126, 1)]);
    }
}
