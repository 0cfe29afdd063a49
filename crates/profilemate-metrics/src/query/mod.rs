//! PromQL-style queries over one or more scrapes: selection and `sum by`, `increase`/`rate`
//! with counter resets, `histogram_quantile`, windowed bucket deltas and two-scrape windows.

mod histogram;
mod quantile;
mod rate;
mod select;
mod window;

pub use histogram::{HistogramSeries, bucket_increase, sum_histograms_by, windowed_quantile};
pub use quantile::{Bucket, histogram_quantile};
pub use rate::{Point, Window, increase, rate, reset_adjusted_delta};
pub use select::{InstantVector, Matcher, RangeVector, range_vector, rate_by_series, sum_by};
pub use window::{counter_increase, histogram_increase, increase_by, total_increase};
