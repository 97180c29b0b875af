//! The site cargo-leptos builds (`target/site`: wasm, js, css, public files),
//! embedded in the release binary so it runs alone from any directory.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use http::{HeaderValue, StatusCode};
use rust_embed::Embed;

use app::backend::AppState;

#[derive(Embed)]
#[folder = "../target/site/"]
#[allow_missing = true]
struct Site;

/// Paths served from the embedded site rather than rendered.
pub fn is_asset_path(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.svg" || path == "/favicon.ico"
}

/// Unknown `/api/` paths answer JSON 404; files are served from the embedded
/// site (precompressed twin when the browser accepts it); anything else is
/// the app's "not found" page.
pub async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/api/") {
        return app::api::AppError::NotFound.into_response();
    }
    let accepts = |enc: &str| {
        req.headers()
            .get(ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with(enc)))
    };
    let name = path.trim_start_matches('/');
    if !name.is_empty()
        && !name.ends_with(".br")
        && !name.ends_with(".gz")
        && let Some(file) = Site::get(name)
    {
        let mime = mime_for(name, file.metadata.mimetype());
        for (enc, ext) in [("br", "br"), ("gzip", "gz")] {
            if accepts(enc)
                && let Some(packed) = Site::get(&format!("{name}.{ext}"))
            {
                return file_response(packed.data.into_owned(), &mime, Some(enc));
            }
        }
        return file_response(file.data.into_owned(), &mime, None);
    }
    not_found_page(state, req).await
}

fn mime_for(name: &str, guessed: &str) -> String {
    if name.ends_with(".wasm") {
        "application/wasm".to_string()
    } else {
        guessed.to_string()
    }
}

fn file_response(bytes: Vec<u8>, mime: &str, encoding: Option<&str>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    if let Ok(v) = HeaderValue::from_str(mime) {
        resp.headers_mut().insert(CONTENT_TYPE, v);
    }
    resp.headers_mut()
        .insert(VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(enc) = encoding.and_then(|e| HeaderValue::from_str(e).ok()) {
        resp.headers_mut().insert(CONTENT_ENCODING, enc);
    }
    resp
}

async fn not_found_page(state: AppState, req: Request) -> Response {
    let options = state.leptos_options.clone();
    let context_state = state.clone();
    let handler = leptos_axum::render_app_to_stream_with_context(
        move || {
            leptos::prelude::provide_context(context_state.clone());
            crate::security::provide_csp_nonce();
        },
        move || app::shell(options.clone()),
    );
    let mut resp = handler(req).await.into_response();
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp
}
