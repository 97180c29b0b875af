use leptos::prelude::*;

/// A submit button that says what is happening while the request runs.
#[component]
pub fn SubmitButton(
    #[prop(into)] pending: Signal<bool>,
    label: &'static str,
    pending_label: &'static str,
) -> impl IntoView {
    view! {
        <button type="submit" class="primary" disabled=move || pending.get() aria-busy=move || pending.get().to_string()>
            {move || if pending.get() { pending_label } else { label }}
        </button>
    }
}
