//! Static files served on the endpoint's own port, for hosts without an HTTP server of their
//! own (a C program serving the chat page next to its socket). Each file is read on every
//! request, so edits need no restart; this is for a handful of small files, not a CDN.

use super::EndpointError;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::path::PathBuf;
use std::sync::Arc;

/// One file to serve: `GET route` answers the bytes of `path` with `content_type`.
#[derive(Clone, Debug)]
pub(crate) struct StaticFile {
    pub(crate) route: String,
    pub(crate) path: PathBuf,
    pub(crate) content_type: String,
}

/// A static file's route: an absolute literal path (`/`, `/app.js`; none of `{}*?#`).
pub(crate) fn valid_route(route: &str) -> bool {
    route.starts_with('/') && !route.contains(['{', '}', '*', '?', '#'])
}

/// The routes for `files`. Errors: [`EndpointError::StaticFile`] for a route that is not an
/// absolute literal path (`/`, `/app.js`; no `{}`, `*`, `?`, `#`) or a content type that is
/// not a valid header value; [`EndpointError::RouteConflict`] for a route given twice or
/// one of `taken` (the socket routes: axum would merge a `GET` there silently).
pub(crate) fn router(files: &[StaticFile], taken: &[String]) -> Result<Router, EndpointError> {
    let mut router = Router::new();
    let mut seen: Vec<&str> = taken.iter().map(String::as_str).collect();
    for file in files {
        let route = file.route.as_str();
        if !valid_route(route) {
            return Err(EndpointError::StaticFile(format!(
                "route {route:?} must be a literal absolute path such as \"/app.js\""
            )));
        }
        if seen.contains(&route) {
            return Err(EndpointError::RouteConflict(format!(
                "static file route {route:?} is already routed"
            )));
        }
        seen.push(route);
        let content_type = HeaderValue::from_str(&file.content_type).map_err(|_| {
            EndpointError::StaticFile(format!(
                "content type {:?} is not a valid header value",
                file.content_type
            ))
        })?;
        let path = Arc::new(file.path.clone());
        router = router.route(
            route,
            get(move || serve(Arc::clone(&path), content_type.clone())),
        );
    }
    Ok(router)
}

/// 200 with the file's bytes; 404 when it does not exist — also when a directory on its path
/// is missing or is a file (`ENOTDIR`, e.g. `node_modules` absent or not a directory); 500 when
/// it cannot be read (permissions, a directory, ...), with the reason logged, not sent.
async fn serve(path: Arc<PathBuf>, content_type: HeaderValue) -> Response {
    // File reads block: off the async workers (what `tokio::fs` does, without its feature).
    let file = Arc::clone(&path);
    let read = match tokio::task::spawn_blocking(move || std::fs::read(file.as_path())).await {
        Ok(read) => read,
        Err(e) => Err(std::io::Error::other(e)),
    };
    match read {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(e) if is_missing(&e) => {
            crate::warn_limited!(path = %path.display(), "static file not found");
            (StatusCode::NOT_FOUND, "not found\n").into_response()
        }
        Err(e) => {
            crate::error_limited!(path = %path.display(), error = %e, "cannot read static file");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot read file\n").into_response()
        }
    }
}

/// Whether a read failed because nothing is at the path: the file is absent, or a component of
/// the path that should be a directory is a file. Either way a client asked for a file that
/// does not exist, which is a 404, not a server fault.
fn is_missing(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}
