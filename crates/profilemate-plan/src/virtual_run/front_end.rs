//! Defines [`FrontEnd`]: the time between a client's send and the request's arrival in the
//! engine (vLLM's API server: HTTP, tokenization, hand-off to the engine core) and back.
//!
//! A virtual run times each request from its send, as a client does, and hands it to the engine
//! only after the front end's delay, so the delay can also make a request miss a step boundary
//! it would otherwise have caught (vLLM admits arrivals only when it schedules a step).

use std::time::Duration;

/// A fitted front end (`sim calibrate --bench`); [`FrontEnd::default`] is none (the request
/// reaches the engine the instant it is sent, as before calibration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrontEnd {
    /// Delay of every request: send → engine, plus streaming the tokens back.
    pub delay: Duration,
    /// Tokenization time per prompt token, on top of `delay`.
    pub per_prompt_token: Duration,
    /// The API server hands requests to the engine one at a time, at least this far apart: of
    /// requests sent together, the first reaches an idle engine alone and starts a step, the
    /// others join the next (as vLLM's logs show after a burst).
    pub serial: Duration,
}

impl FrontEnd {
    /// Whether it adds nothing.
    pub fn is_none(&self) -> bool {
        self.delay.is_zero() && self.per_prompt_token.is_zero() && self.serial.is_zero()
    }

    /// The delay of a request with `prompt_tokens` tokens.
    pub fn delay_of(&self, prompt_tokens: u32) -> Duration {
        self.delay
            .saturating_add(self.per_prompt_token.saturating_mul(prompt_tokens))
    }

    /// When a request with `prompt_tokens` tokens sent at `sent` reaches the engine, the
    /// previous one having reached it at `previous`.
    pub fn arrival(
        &self,
        sent: Duration,
        prompt_tokens: u32,
        previous: Option<Duration>,
    ) -> Duration {
        let ready = sent.saturating_add(self.delay_of(prompt_tokens));
        match previous {
            Some(p) if !self.serial.is_zero() => ready.max(p.saturating_add(self.serial)),
            _ => ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_constant_and_the_per_token_cost() {
        let f = FrontEnd {
            delay: Duration::from_millis(20),
            per_prompt_token: Duration::from_micros(10),
            serial: Duration::ZERO,
        };
        assert_eq!(f.delay_of(300), Duration::from_millis(23));
        let ms = Duration::from_millis;
        assert_eq!(f.arrival(ms(5), 0, Some(ms(100))), ms(25));
        assert!(!f.is_none());
        assert!(FrontEnd::default().is_none());
        assert_eq!(FrontEnd::default().delay_of(1000), Duration::ZERO);
    }

    #[test]
    fn a_serial_front_end_spaces_requests_sent_together() {
        let ms = Duration::from_millis;
        let f = FrontEnd {
            delay: ms(10),
            per_prompt_token: Duration::ZERO,
            serial: ms(2),
        };
        let first = f.arrival(ms(0), 80, None);
        let second = f.arrival(ms(0), 80, Some(first));
        let third = f.arrival(ms(0), 80, Some(second));
        assert_eq!((first, second, third), (ms(10), ms(12), ms(14)));
        // A request sent later than the spacing is not held back.
        assert_eq!(f.arrival(ms(50), 80, Some(third)), ms(60));
    }
}
