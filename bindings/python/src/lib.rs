//! `switchboard._native`: the private extension module under the `switchboard` package
//! (docs/BINDINGS.md "Python: packaging"). It wraps the core's host layer — the host request
//! queue, the hub and the endpoint — for the pure-Python asyncio dispatcher in
//! `python/switchboard/`. Hand-kept stubs: `python/switchboard/_native.pyi` (checked with
//! `mypy.stubtest`).

mod config;
mod endpoint;
mod errors;
mod logs;
mod payload;
mod request;
mod subscription;

use pyo3::prelude::*;

/// The module. `gil_used = false`: every class is `frozen` over `Sync` state.
#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<endpoint::NativeEndpoint>()?;
    m.add_class::<request::Request>()?;
    m.add_class::<subscription::Subscription>()?;
    m.add_function(wrap_pyfunction!(config::check_pattern, m)?)?;
    m.add_function(wrap_pyfunction!(config::check_refusal_status, m)?)?;
    m.add_function(wrap_pyfunction!(config::check_options, m)?)?;
    m.add_function(wrap_pyfunction!(logs::set_log_level, m)?)?;
    m.add_function(wrap_pyfunction!(logs::take_logs, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    use switchboard::host::RequestKind;
    for kind in RequestKind::ALL {
        // `HANDLE_IN` for `handle_in`, `LEAVE` for the terminate request.
        let name = match kind {
            RequestKind::Leave => "LEAVE".to_owned(),
            other => other.name().to_ascii_uppercase(),
        };
        m.add(name, kind.number())?;
    }
    Ok(())
}
