//! Provides the server's output text: the shared word tokenizer
//! ([`profilemate_model::words`]) and the bytes of output tokens.

pub use profilemate_model::words::{
    VOCAB_SIZE, WORDS, count_tokens, id_text, output_word, tokenize, word_id,
};

/// Appends the text of output tokens `from..to` to `out`.
pub fn push_output(out: &mut impl bytes::BufMut, seed: u64, from: u32, to: u32) {
    for i in from..to {
        out.put_slice(output_word(seed, i).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_text_has_one_word_per_token() {
        let mut out = Vec::new();
        push_output(&mut out, 7, 0, 100);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.split_whitespace().count(), 100);
        assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b == b' '));
    }
}
