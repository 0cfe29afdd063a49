//! Provides the server's toy tokenizer and its built-in output vocabulary.
//!
//! One token per whitespace-separated word, the rule of `profilemate bench serve`'s
//! `WordTokenizer`, so prompt counts agree with our own client. A word's id is a hash of its
//! text (equal words, equal ids, so prefix caching sees shared prompt prefixes). Output token
//! `i` of a request is one word of [`WORDS`] with a leading space, so every output token is one
//! word and counts stay exact for any client that counts words.

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
    let hash = word.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(VOCAB_SIZE)) as u32
}

/// The text of token `index` of an output whose words start at `seed`.
pub fn output_word(seed: u64, index: u32) -> &'static str {
    let i = seed.wrapping_add(u64::from(index)) % WORDS.len() as u64;
    WORDS[i as usize]
}

/// Appends the text of output tokens `from..to` to `out`.
pub fn push_output(out: &mut impl bytes::BufMut, seed: u64, from: u32, to: u32) {
    for i in from..to {
        out.put_slice(output_word(seed, i).as_bytes());
    }
}

/// The text of a token id (`/detokenize`): a vocabulary word chosen by id.
pub fn id_text(id: u32) -> &'static str {
    WORDS[id as usize % WORDS.len()]
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
    fn output_text_has_one_word_per_token() {
        let mut out = Vec::new();
        push_output(&mut out, 7, 0, 100);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.split_whitespace().count(), 100);
        assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b == b' '));
    }
}
