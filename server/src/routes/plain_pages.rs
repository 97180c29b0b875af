//! Small pages of Twofold's own, rendered without the app (no script): the
//! step that leads the browser on to another site after a form post, and
//! the OpenID Connect logout question.

use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderValue, header};

/// Text for an HTML attribute or element.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A small page of Twofold's own, outside the app (no script).
pub fn small_page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Twofold</title><link rel=\"stylesheet\" href=\"/pkg/twofold.css\"></head>\
         <body><main id=\"main\"><section class=\"card narrow\"><h1>{}</h1>{body}</section></main></body></html>",
        escape_html(title),
        escape_html(title)
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

/// Sends the browser on to `to` (another site) after a form post.
pub fn continue_page(title: &str, to: &str, label: &str) -> Response {
    let mut resp = small_page(
        title,
        &format!(
            "<p><a class=\"button primary\" href=\"{}\">{}</a></p>",
            escape_html(to),
            escape_html(label)
        ),
    );
    // Browsers follow a Refresh header at once; the link is there if not.
    if let Ok(refresh) = HeaderValue::from_str(&format!("0;url={to}")) {
        resp.headers_mut().insert("refresh", refresh);
    }
    resp
}

/// Where a form post (no JavaScript) goes on success: a redirect within
/// Twofold; to another site (an app's `rd`, an OpenID Connect client) a page
/// that leads on, because the CSP's `form-action 'self'` makes browsers stop
/// a redirect to another origin after a form post.
pub fn after_form(to: &str) -> Response {
    if to.starts_with('/') && !to.starts_with("//") {
        Redirect::to(to).into_response()
    } else {
        continue_page("Continue", to, "Continue")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn off_site_targets_get_a_page_not_a_redirect() {
        assert_eq!(after_form("/account").status(), http::StatusCode::SEE_OTHER);
        let page = after_form("https://app.example.com/x?a=1&b=2");
        assert_eq!(page.status(), http::StatusCode::OK);
        assert_eq!(
            page.headers().get("refresh").and_then(|v| v.to_str().ok()),
            Some("0;url=https://app.example.com/x?a=1&b=2")
        );
        assert_eq!(after_form("//evil.example").status(), http::StatusCode::OK);
    }
}
