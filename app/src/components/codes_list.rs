use leptos::prelude::*;

/// The text file a person downloads: one code per line, with a reminder.
pub fn codes_file(codes: &[String]) -> String {
    let mut text = String::from(
        "Twofold backup codes\nEach code works once. Keep them somewhere safe, away from your phone.\n\n",
    );
    for c in codes {
        text.push_str(c);
        text.push('\n');
    }
    text
}

/// A `data:` URL for the download link (no script, no server round trip).
fn data_url(text: &str) -> String {
    let mut out = String::from("data:text/plain;charset=utf-8,");
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Backup codes shown once, with copy, download and print.
#[component]
pub fn CodesList(codes: Vec<String>) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let file = codes_file(&codes);
    let href = data_url(&file);
    let copy = move |_| {
        crate::components::clipboard::copy(&file);
        set_copied.set(true);
    };
    let print = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(w) = web_sys::window() {
            let _ = w.print();
        }
    };
    view! {
        <ol class="codes" aria-label="Backup codes">
            {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
        </ol>
        <p class="actions no-print">
            <button type="button" on:click=copy>
                {move || if copied.get() { "Copied" } else { "Copy codes" }}
            </button>
            <a class="button" href=href download="twofold-backup-codes.txt">
                "Download .txt"
            </a>
            <button type="button" on:click=print>"Print"</button>
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_lists_every_code_on_its_own_line() {
        let codes = vec![
            "abcd-efgh-jkmn-pq".to_string(),
            "0123-4567-89ab-cd".to_string(),
        ];
        let text = codes_file(&codes);
        assert!(text.lines().any(|l| l == "abcd-efgh-jkmn-pq"));
        assert!(text.lines().any(|l| l == "0123-4567-89ab-cd"));
        let url = data_url(&text);
        assert!(url.starts_with("data:text/plain;charset=utf-8,Twofold%20backup"));
        assert!(!url.contains('\n') && !url.contains(' '));
    }
}
