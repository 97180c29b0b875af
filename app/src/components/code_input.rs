use leptos::html::Input;
use leptos::prelude::*;

/// Digits typed so far, spaces and dashes dropped: what a pasted
/// "123 456" becomes before it is sent.
pub fn digits_only(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_digit()).collect()
}

/// A one-time code field: numeric keyboard on phones, the browser's one-time
/// code autofill, and `on_complete` called when six digits are in (auto-submit).
#[component]
pub fn CodeInput(
    #[prop(into)] id: String,
    label: &'static str,
    node_ref: NodeRef<Input>,
    /// Backup codes are letters and digits: no numeric keyboard, no auto-submit.
    #[prop(optional)]
    backup: bool,
    /// Not needed in every case (e.g. a code is only asked when stale).
    #[prop(optional)]
    optional: bool,
    #[prop(optional, into)] on_complete: Option<Callback<()>>,
) -> impl IntoView {
    let on_input = move |_| {
        if backup {
            return;
        }
        if let (Some(input), Some(done)) = (node_ref.get(), on_complete)
            && digits_only(&input.value()).len() == 6
        {
            done.run(());
        }
    };
    view! {
        <label for=id.clone()>{label}</label>
        <input
            id=id
            name="code"
            type="text"
            class="code"
            autocomplete=if backup { "off" } else { "one-time-code" }
            inputmode=if backup { "text" } else { "numeric" }
            spellcheck="false"
            autocapitalize="off"
            required=!optional
            node_ref=node_ref
            on:input=on_input
        />
    }
}

#[cfg(test)]
mod tests {
    use super::digits_only;

    #[test]
    fn pasted_codes_with_spaces_become_six_digits() {
        assert_eq!(digits_only("123 456"), "123456");
        assert_eq!(digits_only(" 12-34 56 "), "123456");
        assert_eq!(digits_only("12a"), "12");
    }
}
