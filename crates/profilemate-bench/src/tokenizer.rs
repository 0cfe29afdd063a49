//! Provides the [`Tokenizer`] trait and [`WordTokenizer`], the built-in deterministic tokenizer.
//!
//! vLLM's client loads the model's Hugging Face tokenizer to build prompts of exact token lengths
//! and to count output tokens when the server sends no usage. Without hub access, profilemate
//! ships a word-level tokenizer instead: **every whitespace-separated word is one token**. The
//! simulated server counts tokens the same way, so lengths are exact against it; against a real
//! server, send token-id prompts (completions backends do) and rely on `usage`.

use std::collections::HashMap;
use std::fmt::Debug;

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

/// A fixed vocabulary of lowercase words, one token per word; decoding puts a space before each.
#[derive(Debug, Clone)]
pub struct WordTokenizer {
    words: Vec<String>,
    ids: HashMap<String, u32>,
}

impl WordTokenizer {
    /// Default vocabulary size (matches the fixtures' tiny Llama).
    pub const DEFAULT_VOCAB: u32 = 2048;

    /// A tokenizer with `vocab_size` words (at least 1).
    pub fn new(vocab_size: u32) -> Self {
        let words: Vec<String> = (0..vocab_size.max(1)).map(word_for).collect();
        let ids = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        Self { words, ids }
    }

    /// The id of a word; unknown words hash onto the vocabulary so counts stay one per word.
    fn id_of(&self, word: &str) -> u32 {
        self.ids.get(word).copied().unwrap_or_else(|| {
            let h = word.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
            (h % self.words.len() as u64) as u32
        })
    }
}

impl Default for WordTokenizer {
    fn default() -> Self {
        Self::new(Self::DEFAULT_VOCAB)
    }
}

/// Word for id `i`: bijective base-26 letters ("a", …, "z", "aa", …).
fn word_for(mut i: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

impl Tokenizer for WordTokenizer {
    fn vocab_size(&self) -> u32 {
        self.words.len() as u32
    }

    fn encode(&self, text: &str) -> Vec<u32> {
        text.split_whitespace().map(|w| self.id_of(w)).collect()
    }

    fn decode(&self, ids: &[u32]) -> String {
        let mut out = String::with_capacity(ids.len() * 4);
        for &id in ids {
            out.push(' ');
            out.push_str(&self.words[id as usize % self.words.len()]);
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
        assert_eq!(word_for(0), "a");
        assert_eq!(word_for(26), "aa");
    }

    #[test]
    fn one_token_per_word() {
        let t = WordTokenizer::default();
        assert_eq!(t.count(" hello  world\nfoo"), 3);
        assert_eq!(t.encode("zzzz unknown").len(), 2);
    }
}
