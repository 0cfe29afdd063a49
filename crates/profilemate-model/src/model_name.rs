//! Compares model names as users spell them: [`normalise`] and [`edit_distance`].

/// A model name in comparable form: the `ORG/` prefix dropped, lowercase, without `-`, `_`
/// and `.` (`meta-llama/Llama-3.1-8B`, `Llama-3.1-8B` and `llama3.1-8b` all give `llama318b`).
pub fn normalise(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The Levenshtein distance between `a` and `b` (insertions, deletions and substitutions of
/// one character each cost 1).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_drops_org_case_and_separators() {
        assert_eq!(normalise("meta-llama/Llama-3.1-8B"), "llama318b");
        assert_eq!(normalise("Llama-3.1-8B"), "llama318b");
        assert_eq!(normalise("llama3.1-8b"), "llama318b");
        assert_eq!(normalise("llama_3_1_8b"), "llama318b");
        assert_eq!(normalise("Qwen/Qwen3-30B-A3B"), "qwen330ba3b");
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("llama318b", "llama319b"), 1);
        assert_eq!(edit_distance("deepsekv3", "deepseekv3"), 1);
    }
}
