//! Provides the word tokenizer shared by the simulated server, the virtual-time driver and the
//! bench client: **one token per whitespace-separated word**, so prompt counts agree everywhere.
//!
//! Two vocabularies: the engine side ([`tokenize`], [`word_id`]) hashes each word's text into
//! [`VOCAB_SIZE`] ids (equal words, equal ids, so prefix caching sees shared prompt prefixes);
//! the client side ([`WordTokenizer`]) has a fixed vocabulary of lowercase words to build
//! prompts of exact lengths and decode ids, hashing unknown words with the same hash. Output
//! token `i` of a request is one word of [`WORDS`] with a leading space, so every output token
//! is one word and counts stay exact for any client that counts words.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Ids are below this (Llama-2's vocabulary size).
pub const VOCAB_SIZE: u32 = 32_000;

/// The output vocabulary: plain ASCII words that need no JSON escaping.
pub const WORDS: [&str; 32] = [
    " the", " of", " and", " to", " in", " a", " is", " that", " for", " it", " as", " was",
    " with", " be", " by", " on", " not", " he", " this", " are", " or", " his", " from", " at",
    " which", " but", " have", " an", " had", " they", " you", " were",
];

/// Token ids of `text`: one per whitespace-separated word.
pub fn tokenize(text: &str) -> Vec<u32> {
    text.split_whitespace().map(word_id).collect()
}

/// Number of tokens of `text`, without building the ids.
pub fn count_tokens(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

/// The id of one word (FNV-1a, folded into the vocabulary).
pub fn word_id(word: &str) -> u32 {
    (fnv1a(word) % u64::from(VOCAB_SIZE)) as u32
}

/// FNV-1a of a word's bytes.
fn fnv1a(word: &str) -> u64 {
    word.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The text of token `index` of an output whose words start at `seed`.
pub fn output_word(seed: u64, index: u32) -> &'static str {
    let i = seed.wrapping_add(u64::from(index)) % WORDS.len() as u64;
    WORDS[i as usize]
}

/// The text of a token id (`/detokenize`): a vocabulary word chosen by id.
pub fn id_text(id: u32) -> &'static str {
    WORDS[id as usize % WORDS.len()]
}

/// The client's word tokenizer: a fixed vocabulary of lowercase words, one token per word;
/// decoding puts a space before each.
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
    pub fn id_of(&self, word: &str) -> u32 {
        self.ids
            .get(word)
            .copied()
            .unwrap_or_else(|| (fnv1a(word) % self.words.len() as u64) as u32)
    }

    /// The word of `id` (ids wrap around the vocabulary).
    pub fn word(&self, id: u32) -> &str {
        &self.words[id as usize % self.words.len()]
    }

    /// Number of words in the vocabulary.
    pub fn vocab_size(&self) -> u32 {
        self.words.len() as u32
    }
}

impl WordTokenizer {
    /// The tokenizer of `vocab_size` words, built once per size and shared: a model's
    /// vocabulary (128 256 words for Llama 3) takes milliseconds to build, and a capacity
    /// search samples a workload for every probe.
    pub fn shared(vocab_size: u32) -> Arc<WordTokenizer> {
        static BUILT: Mutex<Vec<Arc<WordTokenizer>>> = Mutex::new(Vec::new());
        let vocab_size = vocab_size.max(1);
        let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = built.iter().find(|t| t.vocab_size() == vocab_size) {
            return t.clone();
        }
        let t = Arc::new(WordTokenizer::new(vocab_size));
        built.push(t.clone());
        t
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_token_per_word() {
        assert_eq!(tokenize("  hello world\n again ").len(), 3);
        assert_eq!(count_tokens(""), 0);
        assert_eq!(tokenize("a b a")[0], tokenize("a b a")[2]);
    }

    #[test]
    fn client_words_are_unique_and_unknown_words_hash_like_the_engines() {
        let t = WordTokenizer::new(800);
        assert_eq!(word_for(0), "a");
        assert_eq!(word_for(26), "aa");
        assert_eq!(t.id_of(t.word(799)), 799);
        assert_eq!(u64::from(t.id_of("Zz")), fnv1a("Zz") % 800);
        assert_eq!(
            u64::from(word_id("Zz")),
            fnv1a("Zz") % u64::from(VOCAB_SIZE)
        );
    }
}
