//! Provides the presenters: the console tables, the result JSON and where it is written. They
//! turn a [`crate::Report`] into text or bytes; none of them prints.

pub mod console;
pub mod filename;
pub mod json;
pub mod pyjson;

pub use console::{render_extras_table, render_vllm_table};
pub use filename::{NameParts, result_filename, write_result};
pub use json::ResultJson;
