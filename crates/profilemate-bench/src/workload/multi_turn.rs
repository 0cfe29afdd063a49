//! Provides the `multi_turn` dataset (beyond vLLM): closed-loop chat sessions whose every turn
//! resends the conversation so far, so a server's prefix cache can reuse it.
//!
//! vLLM 0.32's `vllm bench serve` has no such dataset (its `benchmarks/multi_turn` script is not
//! part of the wheel). Here a [`SessionPlan`] holds, per session, the new user tokens of every
//! turn, the output length asked for each turn and the think time before each follow-up, all
//! drawn from `--seed`; a [`Conversation`] turns the plan plus the replies received so far into
//! the next request. Turn k's prompt is the shared system prompt, then every earlier user
//! message and assistant reply in order, then turn k's user message.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::random::{RangeRatio, bounds};
use super::{ClientPrompt, SampleOptions, SampleRequest};
use crate::error::{BenchConfigError, DatasetError};
use crate::tokenizer::Tokenizer;

/// The `multi_turn` parameters (`--multi-turn-*`); the number of sessions is `--num-prompts`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiTurnSpec {
    /// `--multi-turn-turns`: turns (requests) per session, at least 1.
    pub turns: usize,
    /// `--multi-turn-input-len`: new user tokens per turn.
    pub input_len: u64,
    /// `--multi-turn-output-len`: output tokens asked for per turn (`max_tokens`).
    pub output_len: u64,
    /// `--multi-turn-range-ratio`: the lengths are uniform on `[floor(L(1-r)), ceil(L(1+r))]`,
    /// as `--random-range-ratio` draws them.
    pub range_ratio: RangeRatio,
    /// `--multi-turn-think-time`: the mean of the exponentially distributed pause between
    /// receiving a reply and sending the next turn (zero: the next turn goes at once).
    pub think_time: Duration,
    /// `--multi-turn-system-prompt-len`: tokens of one system prompt every session starts with.
    pub system_prompt_len: u64,
}

/// The default turns per session.
pub const DEFAULT_TURNS: usize = 5;

impl Default for MultiTurnSpec {
    /// 5 turns of 128 new user tokens and 128 output tokens, no think time, no system prompt.
    fn default() -> Self {
        Self {
            turns: DEFAULT_TURNS,
            input_len: 128,
            output_len: 128,
            range_ratio: RangeRatio::default(),
            think_time: Duration::ZERO,
            system_prompt_len: 0,
        }
    }
}

impl MultiTurnSpec {
    /// Refuses sessions without turns and user messages that may be empty; errors name the
    /// flag.
    pub fn validate(&self) -> Result<(), BenchConfigError> {
        if self.turns == 0 {
            return Err(BenchConfigError::Invalid {
                flag: "--multi-turn-turns",
                value: "0".into(),
                reason: "a session needs at least 1 turn".into(),
            });
        }
        if bounds(self.input_len, self.range_ratio.input).0 < 1 {
            return Err(BenchConfigError::Invalid {
                flag: "--multi-turn-input-len",
                value: self.input_len.to_string(),
                reason: format!(
                    "with range ratio {} a user message may have 0 tokens; raise it or lower --multi-turn-range-ratio",
                    self.range_ratio.input
                ),
            });
        }
        Ok(())
    }
}

/// Where a request belongs in a multi-turn run: its session and its turn (both from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionTurn {
    /// The session: its index in the plan, which is its place in the arrival schedule.
    pub session: usize,
    /// The turn within the session.
    pub turn: usize,
}

/// One session's script: what the user says and asks for at each turn, and how long they
/// think before each follow-up.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionScript {
    /// The new user tokens of each turn.
    pub user: Vec<Vec<u32>>,
    /// `max_tokens` of each turn.
    pub output_lens: Vec<u64>,
    /// The pause before each turn, after the previous turn's reply (zero for turn 0, which the
    /// arrival schedule places).
    pub think: Vec<Duration>,
}

/// Every session of a multi-turn run, drawn from `--seed`, and how its requests are shaped.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPlan {
    /// The system prompt every session starts with (may be empty).
    pub system: Vec<u32>,
    /// One script per session.
    pub sessions: Vec<SessionScript>,
    /// Prompts go as token ids (completions backends) instead of chat messages.
    pub token_ids: bool,
    /// The `x-request-id` prefix; a turn's id is `<prefix><session>-<turn>`.
    pub request_id_prefix: String,
    /// `--seed`, which also seeds the virtual-time replies ([`SessionPlan::synthetic_reply`]).
    pub seed: u64,
}

/// Checks the parameters and draws the plan: `opts.num_prompts` sessions.
pub fn plan(
    spec: &MultiTurnSpec,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<SessionPlan, DatasetError> {
    spec.validate()
        .map_err(|e| DatasetError::Params(e.to_string()))?;
    let input = bounds(spec.input_len, spec.range_ratio.input);
    let (out_lo, out_hi) = bounds(spec.output_len, spec.range_ratio.output);
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let vocab = tok.vocab_size();
    let system = random_ids(&mut rng, spec.system_prompt_len, vocab);
    let mean_think = spec.think_time.as_secs_f64();
    let sessions = (0..opts.num_prompts)
        .map(|_| {
            let user = (0..spec.turns)
                .map(|_| {
                    let n = rng.random_range(input.0..=input.1);
                    random_ids(&mut rng, n, vocab)
                })
                .collect();
            let output_lens = (0..spec.turns)
                .map(|_| rng.random_range(out_lo.max(1)..=out_hi.max(1)))
                .collect();
            let think = (0..spec.turns)
                .map(|k| match k {
                    0 => Duration::ZERO,
                    _ => exponential(&mut rng, mean_think),
                })
                .collect();
            SessionScript {
                user,
                output_lens,
                think,
            }
        })
        .collect();
    Ok(SessionPlan {
        system,
        sessions,
        token_ids: opts.token_ids,
        request_id_prefix: opts.request_id_prefix.clone(),
        seed: opts.seed,
    })
}

/// The first turn of every session, in session order: what the arrival schedule places (and
/// what the ready check and warmups send).
pub(super) fn sample(
    spec: &MultiTurnSpec,
    opts: &SampleOptions,
    tok: &dyn Tokenizer,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let plan = plan(spec, opts, tok)?;
    Ok((0..plan.sessions.len())
        .map(|s| Conversation::new(&plan, s).request(tok))
        .collect())
}

fn random_ids(rng: &mut StdRng, n: u64, vocab: u32) -> Vec<u32> {
    (0..n).map(|_| rng.random_range(0..vocab)).collect()
}

/// An exponential draw of mean `mean` seconds (inverse transform; zero mean gives zero).
fn exponential(rng: &mut StdRng, mean: f64) -> Duration {
    if mean <= 0.0 {
        return Duration::ZERO;
    }
    let u: f64 = rng.random::<f64>();
    Duration::try_from_secs_f64(-mean * (1.0 - u).ln()).unwrap_or(Duration::MAX)
}

impl SessionPlan {
    /// Turns per session.
    pub fn turns(&self) -> usize {
        self.sessions.first().map_or(0, |s| s.user.len())
    }

    /// Requests the plan holds: sessions times turns.
    pub fn total_turns(&self) -> usize {
        self.sessions.len() * self.turns()
    }

    /// The reply tokens a virtual-time run puts into the conversation for `at` (the simulated
    /// engine generates no token ids): `len` ids drawn from `--seed`, the session and the turn,
    /// so the same run replays the same conversations.
    pub fn synthetic_reply(&self, at: SessionTurn, len: u32, vocab: u32) -> Vec<u32> {
        let salt = (self.seed ^ 0x6d75_6c74_695f_7475)
            .wrapping_add((at.session as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .wrapping_add((at.turn as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9));
        let mut rng = StdRng::seed_from_u64(salt);
        (0..len)
            .map(|_| rng.random_range(0..vocab.max(1)))
            .collect()
    }
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One message: its token ids, and its text when it came from a server (a reply is sent back
/// as the server wrote it, as a chat client does).
#[derive(Debug, Clone, PartialEq)]
struct Message {
    role: Role,
    ids: Vec<u32>,
    text: Option<String>,
}

/// One session's conversation so far: it builds the next turn's request and takes each reply.
#[derive(Debug, Clone)]
pub struct Conversation<'a> {
    plan: &'a SessionPlan,
    session: usize,
    /// The next turn to send.
    turn: usize,
    messages: Vec<Message>,
}

impl<'a> Conversation<'a> {
    /// Session `session` of `plan`, before its first turn.
    pub fn new(plan: &'a SessionPlan, session: usize) -> Self {
        let mut messages = Vec::new();
        if !plan.system.is_empty() {
            messages.push(Message {
                role: Role::System,
                ids: plan.system.clone(),
                text: None,
            });
        }
        Self {
            plan,
            session,
            turn: 0,
            messages,
        }
    }

    /// The turn the next [`Conversation::request`] sends.
    pub fn next(&self) -> SessionTurn {
        SessionTurn {
            session: self.session,
            turn: self.turn,
        }
    }

    /// Whether every turn has been sent.
    pub fn is_done(&self) -> bool {
        self.turn >= self.plan.sessions[self.session].user.len()
    }

    /// The think time before the next turn (zero before turn 0).
    pub fn think_time(&self) -> Duration {
        let script = &self.plan.sessions[self.session];
        script.think.get(self.turn).copied().unwrap_or_default()
    }

    /// The next turn's request: the conversation so far plus its user message, as token ids
    /// (completions backends) or chat messages.
    pub fn request(&self, tok: &dyn Tokenizer) -> SampleRequest {
        let script = &self.plan.sessions[self.session];
        let user = Message {
            role: Role::User,
            ids: script.user[self.turn].clone(),
            text: None,
        };
        let all = || self.messages.iter().chain(std::iter::once(&user));
        let prompt_len = all().map(|m| m.ids.len() as u64).sum();
        let prompt = if self.plan.token_ids {
            ClientPrompt::TokenIds(all().flat_map(|m| m.ids.iter().copied()).collect())
        } else {
            ClientPrompt::Messages(
                all()
                    .map(|m| {
                        let text = m.text.clone().unwrap_or_else(|| tok.decode(&m.ids));
                        json!({"role": m.role.name(), "content": text.trim_start()})
                    })
                    .collect(),
            )
        };
        SampleRequest {
            prompt,
            prompt_len,
            expected_output_len: script.output_lens[self.turn],
            request_id: format!(
                "{}{}-{}",
                self.plan.request_id_prefix, self.session, self.turn
            ),
            timestamp: None,
            mm_content: Vec::new(),
        }
    }

    /// Records the sent turn's user message and the assistant's reply, and moves to the next
    /// turn. `text` is the reply as the server wrote it (`None` in virtual time, where only
    /// `ids` exist).
    pub fn push_reply(&mut self, ids: Vec<u32>, text: Option<String>) {
        let user = self.plan.sessions[self.session].user[self.turn].clone();
        self.messages.push(Message {
            role: Role::User,
            ids: user,
            text: None,
        });
        self.messages.push(Message {
            role: Role::Assistant,
            ids,
            text,
        });
        self.turn += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::WordTokenizer;
    use proptest::prelude::*;

    fn opts(n: usize, seed: u64) -> SampleOptions {
        SampleOptions {
            num_prompts: n,
            seed,
            request_id_prefix: "b-".into(),
            no_oversample: false,
            disable_shuffle: false,
            token_ids: true,
            counting_ids: false,
        }
    }

    fn ids(r: &SampleRequest) -> &[u32] {
        match &r.prompt {
            ClientPrompt::TokenIds(ids) => ids,
            other => panic!("expected token ids, got {other:?}"),
        }
    }

    #[test]
    fn each_turn_resends_the_conversation_so_far() {
        let tok = WordTokenizer::default();
        let spec = MultiTurnSpec {
            turns: 3,
            input_len: 10,
            output_len: 4,
            system_prompt_len: 6,
            ..Default::default()
        };
        let plan = plan(&spec, &opts(2, 7), &tok).unwrap();
        let mut conv = Conversation::new(&plan, 1);
        let first = conv.request(&tok);
        assert_eq!(first.request_id, "b-1-0");
        assert_eq!(first.prompt_len, 16);
        assert_eq!(&ids(&first)[..6], plan.system.as_slice());
        conv.push_reply(vec![1, 2, 3, 4], None);
        let second = conv.request(&tok);
        assert_eq!(second.request_id, "b-1-1");
        assert_eq!(second.prompt_len, 16 + 4 + 10);
        assert!(ids(&second).starts_with(ids(&first)));
        assert_eq!(&ids(&second)[16..20], &[1, 2, 3, 4]);
        assert_eq!(&ids(&second)[20..], plan.sessions[1].user[1].as_slice());
    }

    #[test]
    fn chat_turns_carry_roles_and_the_reply_text_as_received() {
        let tok = WordTokenizer::default();
        let spec = MultiTurnSpec {
            turns: 2,
            input_len: 3,
            system_prompt_len: 2,
            ..Default::default()
        };
        let mut o = opts(1, 0);
        o.token_ids = false;
        let plan = plan(&spec, &o, &tok).unwrap();
        let mut conv = Conversation::new(&plan, 0);
        conv.push_reply(tok.encode("hello there"), Some("hello there".into()));
        let ClientPrompt::Messages(m) = conv.request(&tok).prompt else {
            panic!("chat backends get messages")
        };
        let roles: Vec<&str> = m.iter().map(|x| x["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(m[2]["content"], "hello there");
    }

    #[test]
    fn zero_turns_and_empty_user_messages_are_refused_naming_the_flag() {
        let tok = WordTokenizer::default();
        let zero = MultiTurnSpec {
            turns: 0,
            ..Default::default()
        };
        let e = plan(&zero, &opts(1, 0), &tok).unwrap_err().to_string();
        assert!(e.contains("--multi-turn-turns"), "{e}");
        let empty = MultiTurnSpec {
            input_len: 0,
            ..Default::default()
        };
        let e = plan(&empty, &opts(1, 0), &tok).unwrap_err().to_string();
        assert!(e.contains("--multi-turn-input-len"), "{e}");
    }

    #[test]
    fn think_times_are_exponential_with_the_given_mean() {
        let tok = WordTokenizer::default();
        let spec = MultiTurnSpec {
            turns: 11,
            input_len: 1,
            think_time: Duration::from_secs(2),
            ..Default::default()
        };
        let plan = plan(&spec, &opts(400, 3), &tok).unwrap();
        let draws: Vec<f64> = plan
            .sessions
            .iter()
            .flat_map(|s| s.think[1..].iter().map(Duration::as_secs_f64))
            .collect();
        assert!(plan.sessions.iter().all(|s| s.think[0].is_zero()));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 2.0).abs() < 0.15, "mean {mean}");
        // An exponential's median is mean * ln 2.
        let below = draws.iter().filter(|&&d| d < 2.0 * 2f64.ln()).count();
        let share = below as f64 / draws.len() as f64;
        assert!((share - 0.5).abs() < 0.05, "share below the median {share}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn plans_have_the_asked_shape_and_repeat_per_seed(
            sessions in 1usize..6,
            turns in 1usize..6,
            input_len in 1u64..40,
            output_len in 1u64..40,
            ratio in 0.0f64..0.9,
            system in 0u64..20,
            seed in any::<u64>(),
        ) {
            let tok = WordTokenizer::default();
            let spec = MultiTurnSpec {
                turns,
                input_len,
                output_len,
                range_ratio: RangeRatio { input: ratio, output: ratio },
                think_time: Duration::from_millis(500),
                system_prompt_len: system,
            };
            let (in_lo, in_hi) = bounds(input_len, ratio);
            prop_assume!(in_lo >= 1);
            let (out_lo, out_hi) = bounds(output_len, ratio);
            let a = plan(&spec, &opts(sessions, seed), &tok).unwrap();
            let b = plan(&spec, &opts(sessions, seed), &tok).unwrap();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.system.len() as u64, system);
            prop_assert_eq!(a.sessions.len(), sessions);
            prop_assert_eq!(a.total_turns(), sessions * turns);
            for s in &a.sessions {
                prop_assert_eq!(s.user.len(), turns);
                prop_assert_eq!(s.output_lens.len(), turns);
                prop_assert_eq!(s.think.len(), turns);
                for u in &s.user {
                    prop_assert!((in_lo..=in_hi).contains(&(u.len() as u64)));
                    prop_assert!(u.iter().all(|&id| id < tok.vocab_size()));
                }
                for &o in &s.output_lens {
                    prop_assert!((out_lo.max(1)..=out_hi.max(1)).contains(&o));
                }
            }
            // A different seed gives a different plan.
            let c = plan(&spec, &opts(sessions, seed.wrapping_add(1)), &tok).unwrap();
            prop_assert_ne!(&a.sessions, &c.sessions);
            // Every turn's prompt starts with the previous turn's prompt and reply.
            let mut conv = Conversation::new(&a, 0);
            let mut prev: Vec<u32> = Vec::new();
            while !conv.is_done() {
                let r = conv.request(&tok);
                let ClientPrompt::TokenIds(ids) = r.prompt else { unreachable!() };
                prop_assert!(ids.starts_with(&prev));
                prop_assert_eq!(ids.len() as u64, r.prompt_len);
                let reply = a.synthetic_reply(conv.next(), 3, tok.vocab_size());
                prev = ids;
                prev.extend(&reply);
                conv.push_reply(reply, None);
            }
        }
    }
}
