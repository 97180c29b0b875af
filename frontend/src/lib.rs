//! The browser entry point: hydrates the server-rendered page. Nothing else lives here.

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    else {
        return;
    };
    // Hydration waits for the split-out code of a lazy route (the account
    // pages) when the page is one, so it finishes asynchronously.
    wasm_bindgen_futures::spawn_local(async move {
        let marker = body.clone();
        leptos::mount::hydrate_from_async(body, app::App)
            .await
            .forget();
        // A marker for tests and styles: the page is interactive from here on.
        let _ = marker.set_attribute("data-hydrated", "true");
    });
}
