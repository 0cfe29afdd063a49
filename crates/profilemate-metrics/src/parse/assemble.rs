//! Groups parsed lines into metric families, folding `_created` gauges into their parents.

use std::collections::HashMap;

use super::line::{is_metric_name, parse_sample};
use crate::error::ParseErrorKind as K;
use crate::model::{MetricFamily, MetricType, Sample, Scrape};

/// Builds a [`Scrape`] line by line.
pub(super) struct Assembler {
    om: bool,
    families: Vec<MetricFamily>,
    /// Family name (and folded `_created` names) → index into `families`.
    index: HashMap<String, usize>,
    /// Families whose type came from a `# TYPE` line.
    typed: Vec<bool>,
    current: Option<usize>,
}

impl Assembler {
    pub(super) fn new(om: bool) -> Self {
        Self {
            om,
            families: Vec::new(),
            index: HashMap::new(),
            typed: Vec::new(),
            current: None,
        }
    }

    pub(super) fn finish(self) -> Scrape {
        Scrape {
            families: self.families,
        }
    }

    /// Handles one trimmed line.
    pub(super) fn line(&mut self, line: &str) -> Result<(), K> {
        match line.strip_prefix('#') {
            _ if line.is_empty() => Ok(()),
            Some(comment) => self.comment(comment),
            None => self.sample(parse_sample(line, self.om)?),
        }
    }

    fn comment(&mut self, comment: &str) -> Result<(), K> {
        let mut words = comment
            .trim_start_matches([' ', '\t'])
            .splitn(2, [' ', '\t']);
        let keyword = words.next().unwrap_or("");
        if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
            return Ok(());
        }
        let rest = words.next().unwrap_or("").trim_start_matches([' ', '\t']);
        let (name, text) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
        if !is_metric_name(name) {
            return Err(K::MissingMetadataName);
        }
        let text = text.trim_start_matches([' ', '\t']);
        match keyword {
            "HELP" => self.help(name, unescape_help(text)),
            "TYPE" => self.declare(name, text.trim_end_matches([' ', '\t'])),
            _ => self.unit(name, text.trim_end_matches([' ', '\t'])),
        }
    }

    fn help(&mut self, name: &str, help: String) -> Result<(), K> {
        if self.created_parent(name).is_some() {
            return Ok(());
        }
        let idx = self.family_for_metadata(name);
        self.families[idx].help.get_or_insert(help);
        Ok(())
    }

    fn unit(&mut self, name: &str, unit: &str) -> Result<(), K> {
        let idx = self.family_for_metadata(name);
        self.families[idx].unit = Some(unit.to_owned());
        Ok(())
    }

    fn declare(&mut self, name: &str, keyword: &str) -> Result<(), K> {
        let kind =
            MetricType::from_keyword(keyword).ok_or_else(|| K::UnknownType(keyword.into()))?;
        if kind == MetricType::Gauge
            && let Some(parent) = self.created_parent(name)
        {
            self.index.insert(name.to_owned(), parent);
            return Ok(());
        }
        let idx = self.family_for_metadata(name);
        if self.typed[idx] {
            return Err(K::DuplicateType(name.into()));
        }
        if !self.families[idx].samples.is_empty() {
            return Err(K::TypeAfterSamples(name.into()));
        }
        self.typed[idx] = true;
        self.set_kind(idx, kind);
        Ok(())
    }

    /// OpenMetrics names a counter family without `_total`; we use the 0.0.4 `_total` name.
    fn set_kind(&mut self, idx: usize, kind: MetricType) {
        let family = &mut self.families[idx];
        family.kind = kind;
        if self.om && kind == MetricType::Counter && !family.name.ends_with("_total") {
            family.name.push_str("_total");
            self.index.insert(family.name.clone(), idx);
        }
    }

    /// The family a metadata line refers to, created (untyped) when new.
    fn family_for_metadata(&mut self, name: &str) -> usize {
        let idx = match self.index.get(name) {
            Some(&idx) => idx,
            None => self.push_family(MetricFamily::new(name, MetricType::Untyped, None)),
        };
        self.current = Some(idx);
        idx
    }

    fn push_family(&mut self, family: MetricFamily) -> usize {
        let idx = self.families.len();
        self.index.insert(family.name.clone(), idx);
        self.families.push(family);
        self.typed.push(false);
        idx
    }

    /// The counter, histogram or summary whose `_created` series `name` is.
    fn created_parent(&self, name: &str) -> Option<usize> {
        let base = name.strip_suffix("_created")?;
        let candidates = [base.to_owned(), format!("{base}_total")];
        candidates
            .iter()
            .filter_map(|c| self.index.get(c).copied())
            .find(|&idx| {
                let family = &self.families[idx];
                self.typed[idx] && family.created_name() == name && family.kind != MetricType::Gauge
            })
    }

    fn sample(&mut self, sample: Sample) -> Result<(), K> {
        let idx = match self
            .current
            .filter(|&i| owns(&self.families[i], &sample.name))
        {
            Some(idx) => idx,
            None => self.owner_elsewhere(&sample.name).unwrap_or_else(|| {
                self.push_family(MetricFamily::new(&sample.name, MetricType::Untyped, None))
            }),
        };
        self.current = Some(idx);
        self.families[idx].samples.push(sample);
        Ok(())
    }

    /// The family that owns a sample when it is not the current one (interleaved text).
    fn owner_elsewhere(&self, sample_name: &str) -> Option<usize> {
        if let Some(&idx) = self.index.get(sample_name) {
            return Some(idx);
        }
        let bases = [
            "_bucket", "_sum", "_count", "_created", "_total", "_gsum", "_gcount", "_info",
        ]
        .iter()
        .filter_map(|suffix| sample_name.strip_suffix(suffix));
        bases
            .flat_map(|base| {
                [
                    self.index.get(base),
                    self.index.get(&format!("{base}_total")),
                ]
            })
            .flatten()
            .copied()
            .find(|&idx| owns(&self.families[idx], sample_name))
    }
}

/// Whether `sample_name` belongs to `family` given the family's type.
fn owns(family: &MetricFamily, sample_name: &str) -> bool {
    if sample_name == family.name {
        return true;
    }
    let base = match family.kind {
        MetricType::Counter => family.name.strip_suffix("_total").unwrap_or(&family.name),
        _ => &family.name,
    };
    sample_name
        .strip_prefix(base)
        .is_some_and(|suffix| family.kind.suffixes().contains(&suffix))
}

/// Undoes HELP escaping (`\\` and `\n`); other backslashes are kept as written.
fn unescape_help(text: &str) -> String {
    if !text.contains('\\') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('\\')) => out.push('\\'),
            ('\\', Some('n')) => out.push('\n'),
            ('\\', Some('"')) => out.push('"'),
            _ => {
                out.push(c);
                continue;
            }
        }
        chars.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    #[test]
    fn created_gauges_fold_into_their_counter() {
        let text = "# HELP a_total Doc.\n# TYPE a_total counter\na_total 3.0\n\
                    # HELP a_created Doc.\n# TYPE a_created gauge\na_created 1.5e+09\n";
        let scrape = parse(text).unwrap();
        assert_eq!(scrape.families.len(), 1);
        let names: Vec<_> = scrape.families[0]
            .samples
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["a_total", "a_created"]);
    }

    #[test]
    fn a_created_gauge_without_parent_stays_a_gauge() {
        let scrape = parse("# TYPE b_created gauge\nb_created 1.0\n").unwrap();
        assert_eq!(scrape.families[0].kind, MetricType::Gauge);
    }

    #[test]
    fn untyped_samples_become_untyped_families() {
        let scrape = parse("x 1\ny{a=\"b\"} 2\nx 3\n").unwrap();
        assert_eq!(scrape.families.len(), 2);
        assert_eq!(scrape.families[0].samples.len(), 2);
        assert_eq!(scrape.families[1].kind, MetricType::Untyped);
    }

    #[test]
    fn help_unescapes_and_type_rules_hold() {
        let scrape = parse("# HELP h a\\\\b\\nc \n# TYPE h gauge \nh 1 \n").unwrap();
        assert_eq!(scrape.families[0].help.as_deref(), Some("a\\b\nc "));
        let dup = parse("# TYPE h gauge\n# TYPE h gauge\n").unwrap_err();
        assert_eq!(dup.kind, K::DuplicateType("h".into()));
        let late = parse("h 1\n# TYPE h gauge\n").unwrap_err();
        assert_eq!(late.kind, K::TypeAfterSamples("h".into()));
        assert_eq!(
            parse("# TYPE h flavour\n").unwrap_err().kind,
            K::UnknownType("flavour".into())
        );
    }
}
