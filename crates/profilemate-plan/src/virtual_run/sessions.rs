//! Provides [`Sessions`]: `multi_turn`'s closed loop in virtual time, as the HTTP dispatcher
//! runs it: a session's next turn enters the engine when its previous turn has finished and
//! its think time has passed, with the conversation so far as the prompt's first tokens.
//!
//! The simulated engine produces no output token ids, so the reply that joins the conversation
//! is [`SessionPlan::synthetic_reply`]: as many ids as the engine generated, drawn from the
//! seed, session and turn. The engine hashes its own output tokens as unique to their request
//! (`profilemate_sim`'s block hashing), so turn k+1 finds turn k's *prompt* in the prefix cache
//! but recomputes turn k's reply; vLLM, whose output blocks hold real ids, can also hit the
//! reply's full blocks when the client's re-tokenized reply matches them. Hit rates here are
//! therefore a floor: lower than vLLM's by at most one reply per turn.

use std::sync::Arc;
use std::time::Duration;

use profilemate_bench::report::SessionStats;
use profilemate_bench::tokenizer::WordTokenizer;
use profilemate_bench::workload::{Conversation, SessionPlan, SessionTurn};
use profilemate_sim::{EngineRequestRecord, FinishReason};

use super::driver::{FollowUps, Outcome, Outgoing, Sent};
use super::engine_request;

/// The sessions' conversations while driving; a request's key is its session.
pub(crate) struct Sessions<'a> {
    plan: &'a SessionPlan,
    conversations: Vec<Conversation<'a>>,
    tokenizer: Arc<WordTokenizer>,
    /// `--duration`: a turn due at or past it is not sent.
    window: Option<Duration>,
    /// Sessions whose next turn may still be queued by a finish.
    open: usize,
}

impl<'a> Sessions<'a> {
    /// The sessions of `plan`, none started, their prompts drawn with `tokenizer` (the one
    /// their first turns were drawn with).
    pub(crate) fn new(
        plan: &'a SessionPlan,
        window: Option<Duration>,
        tokenizer: Arc<WordTokenizer>,
    ) -> Self {
        Self {
            plan,
            conversations: (0..plan.sessions.len())
                .map(|s| Conversation::new(plan, s))
                .collect(),
            tokenizer,
            window,
            open: plan.sessions.len(),
        }
    }

    /// The engine request of session `session`'s next turn, due at `send_at`.
    fn next_request(&self, session: usize, send_at: Duration) -> Outgoing {
        let sample = self.conversations[session].request(&*self.tokenizer);
        Outgoing {
            send_at,
            request: engine_request(sample, send_at),
        }
    }
}

impl FollowUps for Sessions<'_> {
    fn on_finished(
        &mut self,
        session: usize,
        record: &EngineRequestRecord,
    ) -> Option<(Outgoing, usize)> {
        let vocab = self.tokenizer.vocab_size();
        let conv = self.conversations.get_mut(session)?;
        let done = record.finish_reason != Some(FinishReason::Length) || record.finished.is_none();
        let reply = self
            .plan
            .synthetic_reply(conv.next(), record.num_output_tokens, vocab);
        conv.push_reply(reply, None);
        let send_at = record.finished.unwrap_or_default() + conv.think_time();
        let past_window = self.window.is_some_and(|w| send_at >= w);
        if done || conv.is_done() || past_window {
            self.open -= 1;
            return None;
        }
        Some((self.next_request(session, send_at), session))
    }

    fn pending(&self) -> bool {
        self.open > 0
    }
}

/// Each dispatched request's session and turn, from the keys the driver returned (a session's
/// turns are sent in order, one at a time).
pub(crate) fn tags(keys: &[usize]) -> Vec<SessionTurn> {
    let mut next_turn = std::collections::HashMap::new();
    keys.iter()
        .map(|&session| {
            let turn = next_turn.entry(session).or_insert(0);
            let tag = SessionTurn {
                session,
                turn: *turn,
            };
            *turn += 1;
            tag
        })
        .collect()
}

/// What became of the sessions, from each dispatched request (`sent`, tagged by `tags`) and
/// its engine record (`record_of(position in sent)`, for one that reached an engine). Returns
/// the stats and the turns never sent because the run stopped (not those skipped after a
/// refused turn).
pub(crate) fn stats<'r>(
    plan: &SessionPlan,
    sent: &[Sent],
    tags: &[SessionTurn],
    record_of: impl Fn(usize) -> Option<&'r EngineRequestRecord>,
) -> (SessionStats, usize) {
    #[derive(Clone, Copy, PartialEq)]
    enum Last {
        Finished,
        Refused,
        Unfinished,
    }
    let turns = plan.turns();
    // Per session: turns sent, and how the last one ended.
    let mut per = vec![(0usize, Last::Unfinished); plan.sessions.len()];
    for (pos, (s, tag)) in sent.iter().zip(tags).enumerate() {
        let last = match &s.outcome {
            Outcome::Engine(_) => match record_of(pos) {
                Some(r) if r.finish_reason == Some(FinishReason::Length) => Last::Finished,
                _ => Last::Unfinished,
            },
            Outcome::Rejected(_) => Last::Refused,
            // Still waiting for a slot when the run stopped: never sent.
            Outcome::Queued => continue,
        };
        per[tag.session].0 += 1;
        per[tag.session].1 = last;
    }
    let mut stats = SessionStats {
        planned: plan.sessions.len(),
        turns_per_session: turns,
        ..SessionStats::default()
    };
    let mut unsent = 0;
    for (n, last) in per {
        stats.started += usize::from(n > 0);
        match last {
            Last::Finished if n == turns => stats.completed += 1,
            Last::Refused => {
                stats.ended_by_failure += 1;
                stats.turns_skipped_after_failure += turns - n;
            }
            _ => unsent += turns - n,
        }
    }
    (stats, unsent)
}
