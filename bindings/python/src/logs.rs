//! The library's log events for Python's `logging` (docs/OPERATIONS.md "Logs"): a bounded
//! queue (the core's `LogQueue`) that the package's log thread (`switchboard/_logging.py`)
//! drains into the `switchboard` logger. The queue, not a call into Python from the runtime's
//! threads, so that logging never waits for the GIL.

use pyo3::prelude::*;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use switchboard::logging::bridge::{LogLevel, LogQueue, LogSink, set_log_sink};

/// Events kept for the log thread at most; more are dropped and counted.
const CAPACITY: usize = 10_000;

fn queue() -> &'static Arc<LogQueue> {
    static QUEUE: OnceLock<Arc<LogQueue>> = OnceLock::new();
    QUEUE.get_or_init(|| LogQueue::new(CAPACITY))
}

/// Queues the library's events at `level` (1 = error … 5 = trace) or more severe; 0 stops.
#[pyfunction]
pub fn set_log_level(level: u32) -> PyResult<()> {
    let sink = LogLevel::from_number(level).map(|l| (Arc::clone(queue()) as Arc<dyn LogSink>, l));
    set_log_sink(sink).map_err(|e| crate::errors::Error::state(e.to_string()).into())
}

/// Waits up to `timeout_ms` (without the GIL) for events, then takes the queued ones:
/// `(level, target, line, {field: value})`, and how many were dropped since the start.
/// One event as Python gets it: `(level, target, line, [(field, value)])`.
type PyLogEvent = (u32, &'static str, String, Vec<(&'static str, String)>);

#[pyfunction]
pub fn take_logs(py: Python<'_>, timeout_ms: u64) -> (Vec<PyLogEvent>, u64) {
    let events = py.detach(|| queue().take(Duration::from_millis(timeout_ms), 1000));
    let events = events
        .into_iter()
        .map(|e| (e.level as u32, e.target, e.line(), e.fields))
        .collect();
    (events, queue().dropped())
}
