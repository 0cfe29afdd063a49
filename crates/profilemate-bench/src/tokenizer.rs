//! Provides the [`Tokenizer`] trait and its implementation for [`WordTokenizer`], the built-in
//! deterministic tokenizer (its vocabulary lives in [`profilemate_model::words`], beside the
//! engine's).
//!
//! vLLM's client loads the model's Hugging Face tokenizer to build prompts of exact token lengths
//! and to count output tokens when the server sends no usage. Without hub access, profilemate
//! ships a word-level tokenizer instead: **every whitespace-separated word is one token**. The
//! simulated server counts tokens the same way, so lengths are exact against it; against a real
//! server, send token-id prompts (completions backends do) and rely on `usage`.

use std::fmt::Debug;

pub use profilemate_model::words::WordTokenizer;

/// Turns text into token ids and back.
pub trait Tokenizer: Send + Sync + Debug {
    /// Number of token ids.
    fn vocab_size(&self) -> u32;
    /// Encodes text, without special tokens.
    fn encode(&self, text: &str) -> Vec<u32>;
    /// Decodes token ids to text.
    fn decode(&self, ids: &[u32]) -> String;
    /// Number of tokens in `text`; override when it can be done without allocating.
    fn count(&self, text: &str) -> usize {
        self.encode(text).len()
    }
    /// Special tokens the tokenizer adds to a prompt (vLLM subtracts them from input lengths).
    fn num_special_tokens_to_add(&self) -> u32 {
        0
    }
}

impl Tokenizer for WordTokenizer {
    fn vocab_size(&self) -> u32 {
        WordTokenizer::vocab_size(self)
    }

    fn encode(&self, text: &str) -> Vec<u32> {
        text.split_whitespace().map(|w| self.id_of(w)).collect()
    }

    fn decode(&self, ids: &[u32]) -> String {
        let mut out = String::with_capacity(ids.len() * 4);
        for &id in ids {
            out.push(' ');
            out.push_str(self.word(id));
        }
        out
    }

    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_unique_and_round_trip() {
        let t = WordTokenizer::new(800);
        let ids: Vec<u32> = (0..800).collect();
        assert_eq!(t.encode(&t.decode(&ids)), ids);
        assert_eq!(t.decode(&[0, 26]), " a aa");
    }

    #[test]
    fn one_token_per_word() {
        let t = WordTokenizer::default();
        assert_eq!(t.count(" hello  world\nfoo"), 3);
        assert_eq!(t.encode("zzzz unknown").len(), 2);
    }
}
