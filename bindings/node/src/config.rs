//! The endpoint configuration as JavaScript passes it: the user's options object, as JSON
//! text, handed option by option to the core's [`Options`] (which holds every default and
//! check, the same ones C and Python use; names in camelCase), plus the routes and callbacks
//! the facade registered.

use crate::error::{Result, core_error, invalid};
use napi_derive::napi;
use switchboard::host::{HostConfig, Naming, OptionValue, Options};

/// A topic pattern served by JavaScript handlers.
#[napi(object)]
#[derive(Clone, Debug)]
pub struct NativeChannelRoute {
    /// `room:*` style pattern.
    pub pattern: String,
    /// Events whose broadcasts reach `handleOut` per subscriber (Phoenix `intercept`).
    pub intercepts: Vec<String>,
}

/// Everything `new NativeEndpoint` needs.
#[napi(object)]
#[derive(Clone, Debug)]
pub struct NativeConfig {
    /// The options object of `new Endpoint(options)` as JSON (`undefined` entries left out;
    /// a value JSON cannot carry as `{"$unsupported": "<typeof>"}`).
    pub options: String,
    /// Topic patterns handled in JavaScript.
    pub channels: Vec<NativeChannelRoute>,
    /// Ask JavaScript on every WebSocket connect (else every connect is accepted).
    pub host_connect: bool,
    /// Path prefixes whose HTTP requests JavaScript answers (`http` requests).
    pub http_routes: Vec<String>,
}

/// The user's options (JSON text) set on a fresh [`Options`].
fn options_from_json(text: &str) -> Result<Options> {
    let mut options = Options::new(Naming::Camel);
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| invalid(format!("options are not JSON: {e}")))?;
    match OptionValue::from_json(json) {
        Some(OptionValue::Map(entries)) => options.set_all(entries).map_err(core_error)?,
        None => {}
        Some(_) => return Err(invalid("new Endpoint(options): options must be an object")),
    }
    Ok(options)
}

/// Checks the options of `new Endpoint(options)` (JSON text as for [`NativeConfig`]) so that
/// the constructor refuses a bad one at once. Throws SB_E_INVALID_ARGUMENT.
#[napi]
pub fn check_options(options: String) -> Result<()> {
    options_from_json(&options).map(drop)
}

impl NativeConfig {
    /// The core's configuration. Errors: SB_E_INVALID_ARGUMENT with the core's message
    /// (unknown option, wrong type or range, bad pattern, path or prefix).
    pub fn into_host_config(self) -> Result<HostConfig> {
        let mut options = options_from_json(&self.options)?;
        for route in self.channels {
            options
                .add_channel(&route.pattern, route.intercepts)
                .map_err(core_error)?;
        }
        for prefix in &self.http_routes {
            options.add_http_route(prefix).map_err(core_error)?;
        }
        options.set_host_connect(self.host_connect);
        options.build().map_err(core_error)
    }
}

/// Checks a channel pattern as the core does (`room:*` or an exact topic), so that
/// `endpoint.channel(...)` refuses a bad one at once. Throws SB_E_INVALID_ARGUMENT.
#[napi]
pub fn check_pattern(pattern: String) -> Result<()> {
    switchboard::host::check_pattern(&pattern).map_err(core_error)
}

/// Checks an HTTP route prefix as the core does (`/api`: absolute, literal, no trailing
/// `/`), so that `endpoint.httpRoute(...)` refuses a bad one at once. Throws
/// SB_E_INVALID_ARGUMENT.
#[napi]
pub fn check_http_prefix(prefix: String) -> Result<()> {
    switchboard::host::check_http_prefix(&prefix).map_err(core_error)
}

/// Checks a connect refusal status as the core does (400-599), so that `refuse(status)`
/// throws where it is called. Throws SB_E_INVALID_ARGUMENT.
#[napi]
pub fn check_refusal_status(status: f64) -> Result<()> {
    if status.fract() != 0.0 || !status.is_finite() {
        return Err(invalid(format!(
            "a connect refusal status must be an integer (got {status})"
        )));
    }
    // Saturating: a huge number still lands outside the range and is refused.
    switchboard::host::connect_refused(status as i64)
        .map(|_| ())
        .map_err(core_error)
}

/// The name of `known` a user most likely meant by `given`, by the core's one "did you mean"
/// rule (`closest_name`); `null` when none is close enough.
#[napi]
pub fn closest_name(given: String, known: Vec<String>) -> Option<String> {
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    switchboard::host::closest_name(&given, &known).map(str::to_owned)
}
