//! Request and response shapes of the JSON API, shared by server and browser.
//! Enums keep serde's default (externally tagged) form so that scripts in any
//! language see the variant names exactly as SPEC.md writes them.

use serde::{Deserialize, Serialize};

/// Where an account stands with its second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MfaState {
    Disabled,
    SetupInProgress,
    Enabled,
}

impl MfaState {
    /// Stored form in the database (`users.mfa_state`).
    pub fn as_str(self) -> &'static str {
        match self {
            MfaState::Disabled => "Disabled",
            MfaState::SetupInProgress => "SetupInProgress",
            MfaState::Enabled => "Enabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Disabled" => Some(MfaState::Disabled),
            "SetupInProgress" => Some(MfaState::SetupInProgress),
            "Enabled" => Some(MfaState::Enabled),
            _ => None,
        }
    }
}

/// A second factor a person can answer a sign-in challenge with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecondFactor {
    Totp,
    BackupCode,
    EmailCode,
    /// Any WebAuthn credential: a synced passkey or a hardware security key.
    Passkey,
    /// A code texted to one of the account's phones.
    SmsCode,
}

/// The kinds of factor an account can hold (several of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FactorKind {
    Totp,
    Passkey,
    Phone,
}

/// `GET /api/factors`: one of the account's factors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactorInfo {
    pub id: i64,
    pub kind: FactorKind,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Passkeys only: `true` for a synced passkey (its key can be backed up
    /// to the person's other devices), `false` for one bound to a single
    /// device or security key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced: Option<bool>,
    /// Phones only: the number, masked (`+44 •••• ••• 123`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// `POST /api/factors/rename`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameFactorRequest {
    pub id: i64,
    pub name: String,
}

/// `POST /api/factors/remove` (inside the re-authentication window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveFactorRequest {
    pub id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "User",
            Role::Admin => "Admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "User" => Some(Role::User),
            "Admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// What a correct password leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginOutcome {
    SignedIn,
    SecondFactorRequired {
        methods: Vec<SecondFactor>,
        expires_in_s: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub remember_me: bool,
    /// Where to go back to after signing in (an app behind forward-auth);
    /// followed only to allowed domains. Used by the form post: JSON
    /// clients go to `GET /api/auth/continue?rd=` themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rd: Option<String>,
}

/// The signed-in account as `GET /api/me` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub email: String,
    pub role: Role,
    pub mfa: MfaState,
    pub backup_codes_left: u32,
    pub trusted_devices: u32,
    /// Set when an MFA policy covers this account and it has not enrolled:
    /// the date (unix seconds) by which it must.
    #[serde(default)]
    pub mfa_required_by: Option<i64>,
    /// The deadline has passed: nothing but enrolment is allowed.
    #[serde(default)]
    pub mfa_enrolment_required: bool,
    /// A phone can be added here (an SMS provider is set and the policy
    /// allows texts).
    #[serde(default)]
    pub sms_available: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub database: String,
}

/// `POST /api/mfa/totp/start`: what the authenticator app needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpSetup {
    pub otpauth_uri: String,
    /// Base32 key in groups of four, for typing by hand.
    pub secret: String,
    /// The otpauth URI as an SVG QR code.
    pub qr_svg: String,
    pub expires_in_s: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRequest {
    pub code: String,
}

/// A fresh set of backup codes, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCodes {
    pub mfa: MfaState,
    pub backup_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorRequest {
    pub method: SecondFactor,
    /// The code typed (every method but `Passkey`).
    #[serde(default)]
    pub code: String,
    /// `Passkey`: the browser's `PublicKeyCredential.toJSON()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<serde_json::Value>,
    #[serde(default)]
    pub trust_device: bool,
    /// As in [`LoginRequest`]: the form post's way back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rd: Option<String>,
}

/// `POST /api/webauthn/register/start`: the name the new passkey will have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyStartRequest {
    #[serde(default)]
    pub name: String,
}

/// `POST /api/webauthn/register/finish`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyRegisterRequest {
    #[serde(default)]
    pub name: String,
    /// The browser's `PublicKeyCredential.toJSON()` from
    /// `navigator.credentials.create`.
    pub credential: serde_json::Value,
}

/// `POST /api/webauthn/login/finish`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyLoginRequest {
    /// The browser's `PublicKeyCredential.toJSON()` from
    /// `navigator.credentials.get`.
    pub credential: serde_json::Value,
}

/// The answer to a passkey registered: the new factor, and the 10 backup
/// codes when it turned two-factor authentication on (empty otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyAdded {
    pub factor: FactorInfo,
    pub mfa: MfaState,
    #[serde(default)]
    pub backup_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisableRequest {
    pub password: String,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaStatus {
    pub mfa: MfaState,
}

/// One active session of the signed-in user (`GET /api/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: i64,
    /// "Chrome on Linux", from the user agent.
    pub device: String,
    pub ip: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The session this request came with.
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeSessionRequest {
    pub id: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutAllRequest {
    /// Keep the session this request came with (sign out everywhere else).
    #[serde(default)]
    pub keep_current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub revoked: u32,
}

/// One entry of the user's audit trail (`GET /api/security/events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEvent {
    pub id: i64,
    pub kind: String,
    pub at: i64,
    pub ip: Option<String>,
    pub device: String,
    pub detail: String,
}

/// A page of events, newest first; pass `next_before` as `?before=` for more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsPage {
    pub events: Vec<SecurityEvent>,
    pub next_before: Option<i64>,
}

/// A browser trusted to skip the second factor (`GET /api/devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedDevice {
    pub id: i64,
    pub label: String,
    pub ip: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: i64,
    /// The browser this request came from.
    pub current: bool,
}

/// `POST /api/devices/revoke`: one device by id, or every one with `all`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeDevicesRequest {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub all: bool,
}

/// `POST /api/mfa/backup-codes/replacement`: the code that replaced the
/// backup code this session signed in with, once; `null` afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplacementCode {
    pub code: Option<String>,
}

/// `POST /api/auth/email-code`: a code is on its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailCodeSent {
    pub expires_in_s: u64,
}

/// Who an organisation's policy requires to use two-factor authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MfaRequirement {
    Nobody,
    Admins,
    Everyone,
}

impl MfaRequirement {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaRequirement::Nobody => "Nobody",
            MfaRequirement::Admins => "Admins",
            MfaRequirement::Everyone => "Everyone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Nobody" => Some(MfaRequirement::Nobody),
            "Admins" => Some(MfaRequirement::Admins),
            "Everyone" => Some(MfaRequirement::Everyone),
            _ => None,
        }
    }

    /// Whether an account with `role` falls under the requirement.
    pub fn covers(self, role: Role) -> bool {
        match self {
            MfaRequirement::Nobody => false,
            MfaRequirement::Admins => role == Role::Admin,
            MfaRequirement::Everyone => true,
        }
    }
}

/// `GET/POST /api/admin/policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaPolicy {
    pub require: MfaRequirement,
    /// Days an account covered by the policy has to enrol (default 7).
    #[serde(default = "default_grace_days")]
    pub grace_days: u32,
    /// Whether codes by email may be used as a second factor (the weakest
    /// one; on unless an admin turns it off). Omitted in a request: on.
    #[serde(default = "default_true")]
    pub allow_email_codes: bool,
    /// Whether phones (codes by text message) may be added and used; only
    /// matters when the server has an SMS provider. Omitted in a request: on.
    #[serde(default = "default_true")]
    pub allow_sms: bool,
}

fn default_true() -> bool {
    true
}

fn default_grace_days() -> u32 {
    7
}

/// `POST /api/auth/reauth`: the password again and, with MFA on, a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReauthRequest {
    pub password: String,
    #[serde(default)]
    pub code: Option<String>,
    /// For a plain form post: the page to return to (one of our own).
    #[serde(default)]
    pub next: Option<String>,
    /// Sent here by an app behind forward-auth that needs a second factor
    /// this session has not shown: back to it (allowed domains only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rd: Option<String>,
}

/// Sensitive actions are allowed until `fresh_until` (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReauthStatus {
    pub fresh_until: i64,
}

/// `POST /api/auth/change-password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
    /// With MFA on and no fresh factor in this session: a current code.
    #[serde(default)]
    pub code: Option<String>,
}

/// One account as the admin dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUser {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub mfa: MfaState,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
    /// Password or second-factor sign-in is locked right now.
    pub locked: bool,
    pub mfa_required_by: Option<i64>,
}

/// `GET /api/admin/users?q=&page=&per_page=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUsersPage {
    pub users: Vec<AdminUser>,
    /// Accounts matching the search, over all pages.
    pub total: u32,
    pub page: u32,
    pub per_page: u32,
}

/// `GET /api/admin/stats`: counts over the whole installation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminStats {
    pub accounts: u32,
    pub admins: u32,
    pub mfa_enabled: u32,
    /// Share of accounts with MFA on, 0 to 100, one decimal.
    pub mfa_enabled_percent: f64,
    pub sign_ins_24h: u32,
    pub sign_ins_7d: u32,
    pub failed_factors_24h: u32,
    pub failed_factors_7d: u32,
    /// Accounts whose password or second-factor sign-in is locked now.
    pub active_lockouts: u32,
}

/// Admin actions on one account, named by its email address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEmailRequest {
    pub email: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_use_serde_default_names_on_the_wire() {
        assert_eq!(
            serde_json::to_string(&MfaState::SetupInProgress)
                .ok()
                .as_deref(),
            Some("\"SetupInProgress\"")
        );
        assert_eq!(
            serde_json::to_string(&LoginOutcome::SignedIn)
                .ok()
                .as_deref(),
            Some("\"SignedIn\"")
        );
        let challenge = LoginOutcome::SecondFactorRequired {
            methods: vec![SecondFactor::Totp, SecondFactor::BackupCode],
            expires_in_s: 300,
        };
        assert_eq!(
            serde_json::to_value(&challenge).ok(),
            Some(
                serde_json::json!({"SecondFactorRequired": {"methods": ["Totp", "BackupCode"], "expires_in_s": 300}})
            )
        );
    }

    #[test]
    fn stored_state_round_trips() {
        for s in [
            MfaState::Disabled,
            MfaState::SetupInProgress,
            MfaState::Enabled,
        ] {
            assert_eq!(MfaState::parse(s.as_str()), Some(s));
        }
        assert_eq!(MfaState::parse("enabled"), None);
        for r in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn remember_me_defaults_to_false() {
        let req: Result<LoginRequest, _> =
            serde_json::from_str(r#"{"email":"a@b.co","password":"x"}"#);
        assert_eq!(req.map(|r| r.remember_me).ok(), Some(false));
    }
}

/// `POST /api/auth/register` in `confirm` mode (202): a link went to the
/// address. The same answer whether the address is new or taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignUpStarted {
    pub email: String,
    pub expires_in_s: u64,
}

/// What the browser gets back from a sign-up: signed in (`open` mode) or a
/// link to follow (`confirm` mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RegisterAnswer {
    SignedIn(Me),
    CheckEmail(SignUpStarted),
}

/// `POST /api/auth/confirm-email` and `POST /api/auth/unlock`: a mailed link's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    pub token: String,
}

/// `POST /api/auth/set-password`: an invitation's token and the new password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPasswordRequest {
    pub token: String,
    pub password: String,
}

impl std::fmt::Debug for SetPasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetPasswordRequest { .. }")
    }
}

/// `POST /api/admin/users/invite`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteRequest {
    pub email: String,
}

/// `GET /api/admin/access`: the forward-auth rules as loaded (read-only)
/// and the latest requests they refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AccessOverview {
    pub default_policy: String,
    pub rules: Vec<AccessRuleInfo>,
    /// Newest first; the last 50 this instance refused.
    pub denials: Vec<AccessDenial>,
}

/// One access rule as the file states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRuleInfo {
    pub line: u32,
    pub domains: Vec<String>,
    pub paths: Vec<String>,
    pub methods: Vec<String>,
    pub roles: Vec<String>,
    pub users: Vec<String>,
    pub policy: String,
}

/// A request a rule (or the default policy) refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessDenial {
    pub at: i64,
    pub method: String,
    pub url: String,
    /// Who was signed in, if anyone.
    pub user: Option<String>,
    pub ip: Option<String>,
    /// The rule's line; `None` for the default policy.
    pub line: Option<u32>,
}

/// One OpenID Connect client as the clients file states it (admin page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcClientInfo {
    pub id: String,
    pub name: String,
    /// No secret: PKCE only.
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    /// `one_factor` or `two_factor`.
    pub policy: String,
    /// People are asked before the app first learns about them.
    pub consent: bool,
}

/// One sign-in to an app, for the admin page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcSignInInfo {
    pub client_id: String,
    pub email: String,
    pub at: i64,
    /// How the person had signed in (RFC 8176 values).
    pub amr: String,
}

/// `GET /api/admin/oidc`: the clients and the latest sign-ins to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OidcOverview {
    pub clients: Vec<OidcClientInfo>,
    /// Newest first, at most 50.
    pub recent: Vec<OidcSignInInfo>,
}

/// An app the person signed in to, or allowed ("Apps you signed in to").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    pub client_id: String,
    pub name: String,
    pub last_sign_in_at: Option<i64>,
    /// The app holds a token that still works.
    pub signed_in: bool,
    /// What the person allowed it to learn.
    pub scopes: Vec<String>,
}

/// `POST /api/account/apps/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRevokeRequest {
    pub client_id: String,
}

/// `GET /api/oauth2/consent?<the authorization request>`: what the consent
/// page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentInfo {
    pub client_name: String,
    /// The signed-in account.
    pub email: String,
    /// The scopes asked for (and allowed for the app), besides `openid`.
    pub scopes: Vec<String>,
}

/// `POST /api/oauth2/consent`: the person's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    /// The authorization request's query string, as the page got it.
    pub query: String,
    pub allow: bool,
}

/// Where the browser goes after the consent page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentAnswer {
    pub redirect: String,
}

/// `POST /api/mfa/phone/start`: the number to add (E.164, `+` and country
/// code) and the name it will have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneStartRequest {
    pub phone: String,
    #[serde(default)]
    pub name: String,
}

/// A code was texted to the number being added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneStarted {
    /// The number, masked (`+44 •••• ••• 123`).
    pub phone: String,
    pub expires_in_s: u64,
}

/// `POST /api/auth/sms-code`: a sign-in code is on its way by text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsCodeSent {
    pub phone: String,
    pub expires_in_s: u64,
}

/// `POST /api/auth/password-reset/request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetRequest {
    pub email: String,
}

/// The one answer to a reset request, whoever the address belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetRequested {
    pub message: String,
}

/// `POST /api/auth/password-reset/info {token}`: what the reset page must
/// ask besides the new password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetInfo {
    /// MFA is on: a second factor is required.
    pub mfa: bool,
    /// The methods that can answer (never email codes: the link came by mail).
    pub methods: Vec<SecondFactor>,
}

/// `POST /api/auth/password-reset/complete`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetCompleteRequest {
    pub token: String,
    pub password: String,
    /// Required when the account has MFA on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<SecondFactor>,
    #[serde(default)]
    pub code: String,
    /// `Passkey`: the browser's `PublicKeyCredential.toJSON()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<serde_json::Value>,
}

impl std::fmt::Debug for ResetCompleteRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ResetCompleteRequest {{ method: {:?}, .. }}",
            self.method
        )
    }
}

/// `GET /api/auth/recovery` (during a sign-in challenge): where the
/// account's recovery stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryStatus {
    /// A recovery is waiting or ready.
    pub pending: bool,
    pub started_at: Option<i64>,
    /// When it may finish (unix seconds).
    pub ready_at: Option<i64>,
    /// The delay has passed (or an admin approved it): a fresh email code
    /// finishes it.
    pub ready: bool,
    /// The account's address is confirmed (needed to recover by mail).
    pub email_confirmed: bool,
}

/// A recovery waiting, as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRecovery {
    pub id: i64,
    pub email: String,
    pub started_at: i64,
    pub ready_at: i64,
    /// Where it was started from.
    pub address: Option<String>,
    pub approved: bool,
}

/// `POST /api/admin/recoveries/{cancel,approve}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryIdRequest {
    pub id: i64,
}
