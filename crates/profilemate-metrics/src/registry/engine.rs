//! Per-engine label values (`model_name`, `engine`), as vLLM's `create_metric_per_engine` binds them.

use super::handles::LabelledFamily;
use crate::error::RegistryError;

/// The label values vLLM attaches to every engine metric: the served model name and each data-
/// parallel engine index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineLabels {
    /// The served model name (`model_name` label).
    pub model_name: String,
    /// The engine indexes (`engine` label, rendered as decimal strings).
    pub engines: Vec<usize>,
}

impl EngineLabels {
    /// The label names, in the order values are passed: `["model_name", "engine"]`.
    pub const NAMES: [&'static str; 2] = ["model_name", "engine"];

    /// Label values for `model_name` served by `engines`.
    pub fn new(model_name: impl Into<String>, engines: impl IntoIterator<Item = usize>) -> Self {
        Self {
            model_name: model_name.into(),
            engines: engines.into_iter().collect(),
        }
    }

    /// The label names followed by `extra` names.
    pub fn names_with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        Self::NAMES
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    }
}

/// One handle per engine, looked up by engine index.
#[derive(Debug, Clone)]
pub struct PerEngine<H> {
    handles: Vec<(usize, H)>,
}

impl<H> PerEngine<H> {
    /// The handle of `engine`, if it was bound.
    pub fn get(&self, engine: usize) -> Option<&H> {
        self.handles
            .iter()
            .find(|(e, _)| *e == engine)
            .map(|(_, h)| h)
    }

    /// `(engine, handle)` pairs in engine order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &H)> {
        self.handles.iter().map(|(e, h)| (*e, h))
    }
}

/// Binds `family` (registered with [`EngineLabels::names_with`]`(extra)`) once per engine, with
/// `extra` label values appended.
pub fn per_engine<F: LabelledFamily>(
    family: &F,
    engines: &EngineLabels,
    extra: &[&str],
) -> Result<PerEngine<F::Handle>, RegistryError> {
    let bind = |engine: usize| {
        let index = engine.to_string();
        let values: Vec<&str> = [engines.model_name.as_str(), index.as_str()]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        family.labels(&values).map(|h| (engine, h))
    };
    let handles = engines
        .engines
        .iter()
        .map(|&e| bind(e))
        .collect::<Result<_, _>>()?;
    Ok(PerEngine { handles })
}
