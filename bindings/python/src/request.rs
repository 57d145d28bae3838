//! `Request`: one host request polled from the queue (connect, join, handle_in, handle_info,
//! handle_out, leave, http), owned by Python until answered. Dropping it unanswered (`release()`,
//! or garbage collection) counts as a crash of that handler, as in the core: the join gets
//! `{"reason":"join crashed"}`, the channel `phx_error`, the connect 500. Dropping a `Leave`
//! ends the window in which the channel's `terminate` may still push.

use crate::errors::{Error, Result};
use crate::payload::{payload_in, payload_out};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use switchboard::host::{
    self, Answer, AnswerError, Assigns, HostRequest, Info, RequestBody, RequestKind,
};

/// `(name, value)` pairs of a connect request's details.
type ConnectFields = Vec<(&'static str, Option<String>)>;

/// `(method, path, query, content_type, prefix)` of an HTTP request.
type HttpFields = (String, String, String, Option<String>, String);

/// A polled host request. `frozen`: its accessors and answers are safe from any thread;
/// each request is answered at most once.
#[pyclass(frozen, module = "switchboard._native")]
#[derive(Debug)]
pub struct Request {
    slot: Mutex<Option<HostRequest>>,
    kind: RequestKind,
    ticket: u64,
    channel_id: u64,
}

impl Request {
    pub(crate) fn new(req: HostRequest) -> Request {
        Request {
            kind: req.kind(),
            ticket: req.ticket().map(|t| t.get()).unwrap_or(0),
            channel_id: req.channel_id().map(|c| c.get()).unwrap_or(0),
            slot: Mutex::new(Some(req)),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&HostRequest) -> T) -> Result<T> {
        match &*self.slot.lock() {
            Some(req) => Ok(f(req)),
            None => Err(Error::state("the request was already answered or released")),
        }
    }

    /// Answers and drops the request. An answer that does not fit the request leaves it
    /// pending (`WrongAnswerError`); every other failure drops it.
    fn answer(&self, answer: Answer) -> Result<()> {
        let mut slot = self.slot.lock();
        let Some(req) = slot.take() else {
            return Err(AnswerError::AlreadyAnswered.into());
        };
        if !answer.fits(req.kind()) {
            let e = Error::from(AnswerError::WrongKind {
                request: req.kind(),
                answer: answer.name(),
            });
            *slot = Some(req);
            return Err(e);
        }
        drop(slot);
        req.answer(answer)?;
        Ok(())
    }
}

fn assigns(json: Option<&str>) -> Result<Option<Assigns>> {
    Ok(json
        .map(|text| host::json_object(text, "assigns"))
        .transpose()?)
}

#[pymethods]
impl Request {
    /// The kind: `CONNECT`, `JOIN`, `HANDLE_IN`, `HANDLE_INFO`, `HANDLE_OUT`, `LEAVE` or
    /// `HTTP` (the core's numbers, the same as C's `sb_request_kind`).
    #[getter]
    fn kind(&self) -> u32 {
        self.kind.number()
    }

    /// The kind's name for logs: `connect`, `join`, `handle_in`, `handle_info`, `handle_out`,
    /// `terminate` (a `LEAVE`) or `http`.
    #[getter]
    fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    /// The channel pattern whose handler serves this request's channel, as registered
    /// (e.g. `room:*`); the core matched it. None for `CONNECT` and `HTTP`.
    #[getter]
    fn pattern(&self) -> PyResult<Option<String>> {
        Ok(self.with(|r| r.channel().map(|c| c.pattern.to_string()))?)
    }

    /// The ticket (0 for `LEAVE`, which takes no answer).
    #[getter]
    fn ticket(&self) -> u64 {
        self.ticket
    }

    /// The channel id for actions (`NativeEndpoint.push(channel_id, ...)`); 0 for `CONNECT`.
    #[getter]
    fn channel_id(&self) -> u64 {
        self.channel_id
    }

    /// True until answered or released.
    #[getter]
    fn pending(&self) -> bool {
        self.slot.lock().is_some()
    }

    /// The channel topic (None for `CONNECT`).
    #[getter]
    fn topic(&self) -> PyResult<Option<String>> {
        Ok(self.with(|r| r.topic().map(str::to_owned))?)
    }

    /// The event: the client's (`HANDLE_IN`), the intercepted one (`HANDLE_OUT`), or a
    /// subscribed broadcast's (`HANDLE_INFO`); None otherwise.
    #[getter]
    fn event(&self) -> PyResult<Option<String>> {
        Ok(self.with(|r| r.event().map(str::to_owned))?)
    }

    /// `(bytes, binary)`: join params, message or info payload (JSON text unless binary);
    /// for `CONNECT` the params as JSON object text; for `HTTP` the body (binary); None for
    /// `LEAVE`.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Option<(Bound<'py, PyBytes>, bool)>> {
        Ok(self.with(|r| match r.body() {
            RequestBody::Connect { params_json, .. } => {
                Some((PyBytes::new(py, params_json.as_bytes()), false))
            }
            RequestBody::Http(http) => Some((PyBytes::new(py, &http.body), true)),
            _ => r.payload().map(|p| payload_out(py, p)),
        })?)
    }

    /// The message's ref as JSON text (`HANDLE_IN` with a ref), for `NativeEndpoint.reply` later.
    #[getter]
    fn ref_json(&self) -> PyResult<Option<String>> {
        Ok(self.with(|r| {
            r.r#ref()
                .map(|x| String::from_utf8_lossy(x.as_json()).into_owned())
        })?)
    }

    /// The channel's join_ref as text, if any.
    #[getter]
    fn join_ref(&self) -> PyResult<Option<String>> {
        Ok(self.with(|r| r.join_ref().map(|x| x.to_text().into_owned()))?)
    }

    /// The socket id from connect, if any.
    #[getter]
    fn socket_id(&self) -> PyResult<Option<String>> {
        Ok(self.with(|r| r.socket_id().map(str::to_owned))?)
    }

    /// The channel's assigns as JSON object text (None for `CONNECT`).
    #[getter]
    fn assigns<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        Ok(self.with(|r| {
            r.assigns()
                .map(|a| PyBytes::new(py, serde_json::to_string(a).unwrap_or_default().as_bytes()))
        })?)
    }

    /// `HANDLE_INFO`: `"message"` (sent with `send_info`) or `"broadcast"` (a subscribed
    /// topic); None otherwise.
    #[getter]
    fn info_kind(&self) -> PyResult<Option<&'static str>> {
        Ok(self.with(|r| match r.body() {
            RequestBody::HandleInfo {
                info: Info::Message(_),
                ..
            } => Some("message"),
            RequestBody::HandleInfo {
                info: Info::Broadcast(_),
                ..
            } => Some("broadcast"),
            _ => None,
        })?)
    }

    /// `HANDLE_INFO` of a broadcast: its topic.
    #[getter]
    fn info_topic(&self) -> PyResult<Option<String>> {
        Ok(self.with(|r| match r.body() {
            RequestBody::HandleInfo {
                info: Info::Broadcast(b),
                ..
            } => Some(b.topic.clone()),
            _ => None,
        })?)
    }

    /// `CONNECT`: `{"mount", "auth_token", "peer", "origin", "user_agent"}` (None values
    /// when absent). None for other kinds.
    #[getter]
    fn connect_info(&self) -> PyResult<Option<ConnectFields>> {
        Ok(self.with(|r| match r.body() {
            RequestBody::Connect { info, .. } => Some(vec![
                ("mount", Some(info.mount.clone())),
                ("auth_token", info.auth_token.clone()),
                ("peer", info.peer_addr.map(|a| a.to_string())),
                ("origin", info.origin.clone()),
                ("user_agent", info.user_agent.clone()),
            ]),
            _ => None,
        })?)
    }

    /// `HTTP`: `(method, path, query, content_type, prefix)`, path and query percent-encoded
    /// as sent (query without `?`, empty when none), `prefix` the registered route the core
    /// matched (the most specific). None for other kinds.
    #[getter]
    fn http(&self) -> PyResult<Option<HttpFields>> {
        Ok(self.with(|r| match r.body() {
            RequestBody::Http(h) => Some((
                h.method.clone(),
                h.path.clone(),
                h.query.clone(),
                h.content_type.clone(),
                h.prefix.clone(),
            )),
            _ => None,
        })?)
    }

    /// `LEAVE`: `(reason, detail)`, see the package docs. None for other kinds.
    #[getter]
    fn leave_reason(&self) -> PyResult<Option<(&'static str, String)>> {
        Ok(self.with(|r| match r.body() {
            RequestBody::Leave { reason, .. } => {
                Some((reason.kind(), reason.detail().unwrap_or_default()))
            }
            _ => None,
        })?)
    }

    /// Accepts a connect (Phoenix `{:ok, socket}`): `assigns_json` (a JSON object, copied
    /// into every channel of the connection), `socket_id` (Phoenix `id/1`).
    #[pyo3(signature = (assigns_json=None, socket_id=None))]
    fn connect_ok(&self, assigns_json: Option<&str>, socket_id: Option<String>) -> PyResult<()> {
        let assigns = assigns(assigns_json)?.unwrap_or_default();
        Ok(self.answer(Answer::ConnectOk {
            assigns,
            id: socket_id,
        })?)
    }

    /// Refuses a connect with an HTTP status (400-599, else `InvalidArgumentError`).
    fn connect_refused(&self, status: i64) -> PyResult<()> {
        let answer = host::connect_refused(status).map_err(Error::from)?;
        Ok(self.answer(answer)?)
    }

    /// `{:ok, reply, socket}` from join.
    #[pyo3(signature = (reply, binary=false, assigns_json=None))]
    fn join_ok(
        &self,
        reply: &Bound<'_, PyAny>,
        binary: bool,
        assigns_json: Option<&str>,
    ) -> PyResult<()> {
        let reply = payload_in(reply, binary)?;
        let assigns = assigns(assigns_json)?;
        Ok(self.answer(Answer::JoinOk { reply, assigns })?)
    }

    /// `{:error, reply}` from join.
    #[pyo3(signature = (reply, binary=false))]
    fn join_error(&self, reply: &Bound<'_, PyAny>, binary: bool) -> PyResult<()> {
        let reply = payload_in(reply, binary)?;
        Ok(self.answer(Answer::JoinError { reply })?)
    }

    /// `{:reply, {status, payload}, socket}`.
    #[pyo3(signature = (status, payload, binary=false, assigns_json=None))]
    fn reply(
        &self,
        status: &str,
        payload: &Bound<'_, PyAny>,
        binary: bool,
        assigns_json: Option<&str>,
    ) -> PyResult<()> {
        switchboard::host::non_empty(status, "status").map_err(Error::from)?;
        let payload = payload_in(payload, binary)?;
        Ok(self.answer(Answer::Reply {
            status: status.to_owned(),
            payload,
            assigns: assigns(assigns_json)?,
        })?)
    }

    /// `{:noreply, socket}`.
    #[pyo3(signature = (assigns_json=None))]
    fn noreply(&self, assigns_json: Option<&str>) -> PyResult<()> {
        Ok(self.answer(Answer::NoReply {
            assigns: assigns(assigns_json)?,
        })?)
    }

    /// `{:stop, reason, socket}` or, with `reply_status`, `{:stop, reason, reply, socket}`.
    /// `kind`: `"normal"`, `"shutdown"` (client gets `phx_close`) or `"abnormal"`
    /// (`phx_error`); `detail` is the shutdown detail or the abnormal reason.
    #[pyo3(signature = (kind, detail="", reply_status=None, reply_payload=None, reply_binary=false, assigns_json=None))]
    fn stop(
        &self,
        kind: &str,
        detail: &str,
        reply_status: Option<&str>,
        reply_payload: Option<&Bound<'_, PyAny>>,
        reply_binary: bool,
        assigns_json: Option<&str>,
    ) -> PyResult<()> {
        let reason = host::stop_reason(kind, detail).map_err(Error::from)?;
        let reply = match (reply_status, reply_payload) {
            (Some(status), Some(p)) => Some((status.to_owned(), payload_in(p, reply_binary)?)),
            (Some(status), None) => Some((
                status.to_owned(),
                switchboard::wire::Payload::empty_object(),
            )),
            (None, _) => None,
        };
        Ok(self.answer(Answer::Stop {
            reason,
            reply,
            assigns: assigns(assigns_json)?,
        })?)
    }

    /// Answers an `HTTP` request: `status` (100-999), `content_type` (a valid header value,
    /// empty for none), `body` (bytes or str). Else `InvalidArgumentError`.
    fn http_respond(
        &self,
        status: i64,
        content_type: &str,
        body: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let body = crate::payload::bytes_of(body)?;
        let answer = host::http_response(status, content_type, body).map_err(Error::from)?;
        Ok(self.answer(answer)?)
    }

    /// Drops the request unanswered: a crash of its handler (see the module docs); for a
    /// `LEAVE`, the end of its terminate window. Idempotent.
    fn release(&self, py: Python<'_>) {
        let req = self.slot.lock().take();
        // Dropping may wake the channel task (a tokio oneshot): no interpreter needed.
        py.detach(move || drop(req));
    }
}
