//! The browser half of a passkey ceremony: the server's options go to
//! `navigator.credentials.create` / `.get` through the standard JSON forms
//! (`PublicKeyCredential.parse*OptionsFromJSON`, `toJSON()`), so no WebAuthn
//! types are compiled into the WASM. The server checks everything; this
//! only carries the JSON and turns the browser's errors into words.

use crate::api::{AppError, LoginOutcome, PasskeyAdded, paths};

/// How a ceremony in the browser ended when it did not give a credential.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn cancelled() -> AppError {
    AppError::PasskeyRefused {
        message: "The passkey request was cancelled or timed out. Try again when you are ready, or use another method.".into(),
    }
}

fn unsupported() -> AppError {
    AppError::PasskeyRefused {
        message: "This browser cannot use passkeys here. Use another method, or a recent Chrome, Edge, Firefox or Safari.".into(),
    }
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn already_registered() -> AppError {
    AppError::PasskeyRefused {
        message: "This passkey or security key is already registered to your account.".into(),
    }
}

/// Adds a passkey: start, the browser's dialog, finish.
pub async fn add_passkey(name: String) -> Result<PasskeyAdded, AppError> {
    let body = serde_json::json!({ "name": name });
    let options: serde_json::Value = post(paths::PASSKEY_REGISTER_START, &body).await?;
    let credential = browser::create(&options).await?;
    let body = serde_json::json!({ "name": name, "credential": credential });
    post(paths::PASSKEY_REGISTER_FINISH, &body).await
}

/// Signs in with a passkey alone. `conditional`: through the browser's
/// autofill of the email field (it waits until the person picks one).
pub async fn sign_in(conditional: bool) -> Result<LoginOutcome, AppError> {
    let options: serde_json::Value =
        post(paths::PASSKEY_LOGIN_START, &serde_json::json!({})).await?;
    let credential = browser::get(&options, conditional).await?;
    let body = serde_json::json!({ "credential": credential });
    post(paths::PASSKEY_LOGIN_FINISH, &body).await
}

/// Answers the sign-in challenge with a passkey of the account.
pub async fn second_factor(trust_device: bool) -> Result<LoginOutcome, AppError> {
    let options: serde_json::Value =
        post(paths::PASSKEY_SECOND_FACTOR_START, &serde_json::json!({})).await?;
    let credential = browser::get(&options, false).await?;
    let body = serde_json::json!({
        "method": "Passkey",
        "credential": credential,
        "trust_device": trust_device,
    });
    post(paths::SECOND_FACTOR, &body).await
}

/// Whether this browser offers passkeys in the autofill of a field.
/// A password reset answered with a passkey: the reset link's `token` names
/// the account whose keys may answer.
pub async fn reset_password(
    token: String,
    password: String,
) -> Result<serde_json::Value, AppError> {
    let options: serde_json::Value = post(
        paths::RESET_PASSKEY_START,
        &serde_json::json!({ "token": token }),
    )
    .await?;
    let credential = browser::get(&options, false).await?;
    let body = serde_json::json!({
        "token": token,
        "password": password,
        "method": "Passkey",
        "credential": credential,
    });
    post(paths::RESET_COMPLETE, &body).await
}

pub async fn conditional_available() -> bool {
    browser::conditional_available().await
}

/// Whether this browser can run a passkey ceremony at all.
pub fn available() -> bool {
    browser::available()
}

async fn post<T: serde::de::DeserializeOwned>(
    path: &str,
    body: &serde_json::Value,
) -> Result<T, AppError> {
    super::client::post_value(path, body).await
}

#[cfg(feature = "hydrate")]
mod browser {
    use js_sys::{Function, JSON, Object, Promise, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    use super::{already_registered, cancelled, unsupported};
    use crate::api::AppError;

    fn get_prop(target: &JsValue, name: &str) -> Option<JsValue> {
        Reflect::get(target, &JsValue::from_str(name))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    fn method(target: &JsValue, name: &str) -> Option<Function> {
        get_prop(target, name).and_then(|f| f.dyn_into::<Function>().ok())
    }

    /// `window.PublicKeyCredential`, with the JSON helpers this needs.
    fn public_key_credential() -> Option<JsValue> {
        let window: JsValue = web_sys::window()?.into();
        let pkc = get_prop(&window, "PublicKeyCredential")?;
        method(&pkc, "parseCreationOptionsFromJSON")?;
        method(&pkc, "parseRequestOptionsFromJSON")?;
        Some(pkc)
    }

    fn credentials() -> Option<JsValue> {
        let navigator: JsValue = web_sys::window()?.navigator().into();
        get_prop(&navigator, "credentials")
    }

    pub fn available() -> bool {
        public_key_credential().is_some() && credentials().is_some()
    }

    pub async fn conditional_available() -> bool {
        let Some(pkc) = public_key_credential() else {
            return false;
        };
        let Some(check) = method(&pkc, "isConditionalMediationAvailable") else {
            return false;
        };
        let Ok(promise) = check.call0(&pkc).and_then(|p| p.dyn_into::<Promise>()) else {
            return false;
        };
        JsFuture::from(promise)
            .await
            .map(|v| v.as_bool() == Some(true))
            .unwrap_or(false)
    }

    /// `{"publicKey": json}` -> the browser's options object.
    fn parse_options(options: &serde_json::Value, parser: &str) -> Result<JsValue, AppError> {
        let pkc = public_key_credential().ok_or_else(unsupported)?;
        let parse = method(&pkc, parser).ok_or_else(unsupported)?;
        let text = options
            .get("publicKey")
            .map(serde_json::Value::to_string)
            .ok_or(AppError::Internal)?;
        let json = JSON::parse(&text).map_err(|_| AppError::Internal)?;
        parse.call1(&pkc, &json).map_err(|_| AppError::Internal)
    }

    async fn run(verb: &str, request: Object) -> Result<serde_json::Value, AppError> {
        let credentials = credentials().ok_or_else(unsupported)?;
        let call = method(&credentials, verb).ok_or_else(unsupported)?;
        let promise = call
            .call1(&credentials, &request)
            .and_then(|p| p.dyn_into::<Promise>())
            .map_err(|_| unsupported())?;
        let credential = JsFuture::from(promise).await.map_err(|e| {
            let name = get_prop(&e, "name").and_then(|n| n.as_string());
            match name.as_deref() {
                // The person cancelled, the dialog timed out, or the page
                // lost focus: all "not allowed" by design.
                Some("NotAllowedError") | Some("AbortError") => cancelled(),
                // An excluded credential: this key is registered already.
                Some("InvalidStateError") => already_registered(),
                Some("SecurityError") => AppError::PasskeyRefused {
                    message: "The browser refused passkeys for this address. Open Twofold at its public address (https, or localhost).".into(),
                },
                _ => unsupported(),
            }
        })?;
        let to_json = method(&credential, "toJSON").ok_or_else(unsupported)?;
        let json = to_json.call0(&credential).map_err(|_| unsupported())?;
        let text: String = JSON::stringify(&json)
            .map_err(|_| AppError::Internal)?
            .into();
        serde_json::from_str(&text).map_err(|_| AppError::Internal)
    }

    thread_local! {
        /// The AbortController of a pending autofill (conditional) request:
        /// a browser runs one ceremony at a time, so any other ceremony
        /// cancels it first.
        static PENDING: std::cell::RefCell<Option<JsValue>> = const { std::cell::RefCell::new(None) };
    }

    fn cancel_pending() {
        if let Some(controller) = PENDING.with(|p| p.borrow_mut().take())
            && let Some(abort) = method(&controller, "abort")
        {
            let _ = abort.call0(&controller);
        }
    }

    /// A new AbortController, kept as the pending one; its signal.
    fn new_pending_signal() -> Option<JsValue> {
        let window: JsValue = web_sys::window()?.into();
        let class = get_prop(&window, "AbortController")?
            .dyn_into::<Function>()
            .ok()?;
        let controller = Reflect::construct(&class, &js_sys::Array::new()).ok()?;
        let signal = get_prop(&controller, "signal")?;
        PENDING.with(|p| *p.borrow_mut() = Some(controller));
        Some(signal)
    }

    fn request_with(public_key: JsValue) -> Result<Object, AppError> {
        let request = Object::new();
        Reflect::set(&request, &JsValue::from_str("publicKey"), &public_key)
            .map_err(|_| AppError::Internal)?;
        Ok(request)
    }

    pub async fn create(options: &serde_json::Value) -> Result<serde_json::Value, AppError> {
        let public_key = parse_options(options, "parseCreationOptionsFromJSON")?;
        cancel_pending();
        run("create", request_with(public_key)?).await
    }

    pub async fn get(
        options: &serde_json::Value,
        conditional: bool,
    ) -> Result<serde_json::Value, AppError> {
        let public_key = parse_options(options, "parseRequestOptionsFromJSON")?;
        let request = request_with(public_key)?;
        cancel_pending();
        if conditional {
            Reflect::set(
                &request,
                &JsValue::from_str("mediation"),
                &JsValue::from_str("conditional"),
            )
            .map_err(|_| AppError::Internal)?;
            if let Some(signal) = new_pending_signal() {
                Reflect::set(&request, &JsValue::from_str("signal"), &signal)
                    .map_err(|_| AppError::Internal)?;
            }
        }
        run("get", request).await
    }
}

/// Outside the browser no ceremony can run (the pages only call these from
/// event handlers, which never fire on the server).
#[cfg(not(feature = "hydrate"))]
mod browser {
    use super::unsupported;
    use crate::api::AppError;

    pub fn available() -> bool {
        false
    }

    pub async fn conditional_available() -> bool {
        false
    }

    pub async fn create(_options: &serde_json::Value) -> Result<serde_json::Value, AppError> {
        Err(unsupported())
    }

    pub async fn get(
        _options: &serde_json::Value,
        _conditional: bool,
    ) -> Result<serde_json::Value, AppError> {
        Err(unsupported())
    }
}
