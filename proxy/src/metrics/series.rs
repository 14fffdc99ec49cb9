//! Per-thread handles of the request series: a request that matched a route finds its counter
//! and histogram by the identity of what it matched (table generation, route, backend, status,
//! method) instead of hashing six label strings and taking the metric vector's lock. The label
//! values are read only the first time a thread meets an identity.

use std::cell::RefCell;
use std::collections::HashMap;

use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};

/// What fixes a request's label values: the live table's generation, and within it the route
/// and backend (their addresses, stable while the request holds them, and unique within one
/// generation), the status and the method label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// The generation of the table the route came from.
    pub generation: u64,
    /// The route's address.
    pub route: usize,
    /// The chosen backend's address (0 when none).
    pub backend: usize,
    /// The response status.
    pub status: u16,
    /// The method label (one of a fixed set).
    pub method: &'static str,
}

/// A thread keeps at most this many series; past it, the cache starts over.
const MAX_CACHED: usize = 4096;

type Handles = (IntCounter, Histogram);

#[derive(Default)]
struct Cache {
    newest_generation: u64,
    series: HashMap<SeriesKey, Handles, foldhash::fast::FixedState>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Counts one request of `seconds` in the series `key` names; `labels` gives the label values
/// (in the vectors' order) the first time this thread meets `key`.
pub fn observe<'a>(
    requests: &IntCounterVec,
    duration: &HistogramVec,
    key: SeriesKey,
    labels: impl FnOnce() -> [&'a str; 6],
    seconds: f64,
) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if key.generation > cache.newest_generation || cache.series.len() >= MAX_CACHED {
            // A new table: the old one's entries are not needed any more.
            cache.newest_generation = cache.newest_generation.max(key.generation);
            cache.series.clear();
        }
        let (counter, histogram) = cache.series.entry(key).or_insert_with(|| {
            let values = labels();
            (requests.with_label_values(&values), duration.with_label_values(&values))
        });
        counter.inc();
        histogram.observe(seconds);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{HistogramOpts, Opts};

    #[test]
    fn a_series_is_resolved_once_and_counts_every_request() {
        let labels = ["a", "b", "c", "d", "e", "f"];
        let requests = IntCounterVec::new(Opts::new("r", "r"), &labels).expect("vec");
        let duration = HistogramVec::new(HistogramOpts::new("d", "d"), &labels).expect("vec");
        let key = SeriesKey { generation: 7, route: 1, backend: 2, status: 200, method: "GET" };
        let mut resolved = 0;
        for _ in 0..3 {
            observe(
                &requests,
                &duration,
                key,
                || {
                    resolved += 1;
                    ["web", "default", "app", "200", "GET", "a.test"]
                },
                0.1,
            );
        }
        let other = SeriesKey { status: 404, ..key };
        observe(&requests, &duration, other, || ["web", "default", "app", "404", "GET", "a.test"], 0.1);
        assert_eq!(resolved, 1);
        let count =
            |status| requests.with_label_values(&["web", "default", "app", status, "GET", "a.test"]).get();
        assert_eq!((count("200"), count("404")), (3, 1));
        // A newer table starts the cache over; the counts carry on in the same series.
        observe(
            &requests,
            &duration,
            SeriesKey { generation: 8, ..key },
            || ["web", "default", "app", "200", "GET", "a.test"],
            0.1,
        );
        assert_eq!(count("200"), 4);
        let histogram = duration.with_label_values(&["web", "default", "app", "200", "GET", "a.test"]);
        assert_eq!(histogram.get_sample_count(), 4);
    }
}
