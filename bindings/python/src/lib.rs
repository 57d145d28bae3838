//! `switchboard._native`: the private extension module under the `switchboard` package
//! (docs/BINDINGS.md "Python: packaging"). It wraps the core's host layer — the host request
//! queue, the hub and the endpoint — for the pure-Python asyncio dispatcher in
//! `python/switchboard/`. Hand-kept stubs: `python/switchboard/_native.pyi` (checked with
//! `mypy.stubtest`).

mod config;
mod errors;
mod hub;
mod payload;
mod request;
mod subscription;

use pyo3::prelude::*;

/// The module. `gil_used = false`: every class is `frozen` over `Sync` state.
#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<hub::Hub>()?;
    m.add_class::<request::Request>()?;
    m.add_class::<subscription::Subscription>()?;
    m.add_function(wrap_pyfunction!(config::check_pattern, m)?)?;
    m.add_function(wrap_pyfunction!(config::check_options, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    use switchboard::host::RequestKind as K;
    for (name, kind) in [
        ("CONNECT", K::Connect),
        ("JOIN", K::Join),
        ("HANDLE_IN", K::HandleIn),
        ("HANDLE_INFO", K::HandleInfo),
        ("HANDLE_OUT", K::HandleOut),
        ("LEAVE", K::Leave),
        ("HTTP", K::Http),
    ] {
        m.add(name, request::kind_code(kind))?;
    }
    Ok(())
}
