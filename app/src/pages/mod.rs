//! One module per page, and the app shell around them.

mod account;
mod account_activity;
mod admin;
mod change_password;
mod email_link;
mod home;
mod not_found;
mod reauth;
mod second_factor;
mod sign_in;
mod sign_up;
mod two_factor_setup;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{SsrMode, path};

pub use account::AccountPage;
pub use admin::AdminPage;
pub use change_password::ChangePasswordPage;
pub use email_link::{ConfirmEmailPage, SetPasswordPage, UnlockPage};
pub use home::HomePage;
pub use not_found::NotFound;
pub use reauth::ReauthPage;
pub use second_factor::SecondFactorPage;
pub use sign_in::SignInPage;
pub use sign_up::SignUpPage;
pub use two_factor_setup::TwoFactorSetupPage;

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="twofold" href="/pkg/twofold.css" />
        <Title formatter=|page: String| {
            if page.is_empty() { "Twofold".to_string() } else { format!("{page} · Twofold") }
        } />
        <Router>
            <header class="site">
                <A href="/" attr:class="brand">
                    "Twofold"
                </A>
            </header>
            <main id="main">
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/") view=HomePage />
                    <Route path=path!("/signup") view=SignUpPage />
                    <Route path=path!("/login") view=SignInPage />
                    <Route path=path!("/login/second-factor") view=SecondFactorPage />
                    <Route path=path!("/confirm-email") view=ConfirmEmailPage />
                    <Route path=path!("/set-password") view=SetPasswordPage />
                    <Route path=path!("/unlock") view=UnlockPage />
                    <Route path=path!("/account/two-factor") view=TwoFactorSetupPage />
                    // Rendered whole before sending, so it reads right without JavaScript.
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async />
                    <Route path=path!("/account/password") view=ChangePasswordPage ssr=SsrMode::Async />
                    <Route path=path!("/reauth") view=ReauthPage ssr=SsrMode::Async />
                    <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async />
                </Routes>
            </main>
        </Router>
    }
}
