//! One module per page, and the app shell around them.

mod account;
mod account_activity;
mod account_apps;
mod account_factors;
mod account_phone;
mod admin;
mod change_password;
mod consent;
mod email_link;
mod home;
mod lost_access;
mod not_found;
mod reauth;
mod second_factor;
mod sign_in;
mod sign_up;
mod two_factor_setup;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{Lazy, LazyRoute, SsrMode, lazy_route, path};

pub use account::AccountPage;
pub use admin::AdminPage;
pub use change_password::ChangePasswordPage;
pub use consent::ConsentPage;
pub use email_link::{ConfirmEmailPage, SetPasswordPage, UnlockPage};
pub use home::HomePage;
pub use lost_access::{ForgotPasswordPage, RecoverPage, RecoveryCancelPage, ResetPasswordPage};
pub use not_found::NotFound;
pub use reauth::ReauthPage;
pub use second_factor::SecondFactorPage;
pub use sign_in::SignInPage;
pub use sign_up::SignUpPage;
pub use two_factor_setup::TwoFactorSetupPage;

/// A page whose code is split out of the main WebAssembly module and loaded
/// when the router first goes to it (`cargo leptos build --split`): the
/// sign-in pages stay small, the rest comes on navigation.
macro_rules! lazy_page {
    ($route:ident, $page:ident) => {
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> }.into_any()
            }
        }
    };
}

lazy_page!(AccountRoute, AccountPage);
lazy_page!(ChangePasswordRoute, ChangePasswordPage);
lazy_page!(ReauthRoute, ReauthPage);
lazy_page!(AdminRoute, AdminPage);
lazy_page!(TwoFactorSetupRoute, TwoFactorSetupPage);
lazy_page!(ConsentRoute, ConsentPage);
lazy_page!(ResetPasswordRoute, ResetPasswordPage);
lazy_page!(RecoverRoute, RecoverPage);

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
                    <Route path=path!("/forgot-password") view=ForgotPasswordPage />
                    <Route path=path!("/recovery/cancel") view=RecoveryCancelPage />
                    <Route path=path!("/reset-password") view={Lazy::<ResetPasswordRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/recover") view={Lazy::<RecoverRoute>::new()} />
                    <Route path=path!("/account/two-factor") view={Lazy::<TwoFactorSetupRoute>::new()} />
                    // Rendered whole before sending, so it reads right without JavaScript.
                    <Route path=path!("/account") view={Lazy::<AccountRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/account/password") view={Lazy::<ChangePasswordRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/reauth") view={Lazy::<ReauthRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/consent") view={Lazy::<ConsentRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/admin") view={Lazy::<AdminRoute>::new()} ssr=SsrMode::Async />
                </Routes>
            </main>
        </Router>
    }
}
