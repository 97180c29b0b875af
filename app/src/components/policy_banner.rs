use leptos::prelude::*;

use crate::api::display::format_utc;
use crate::api::{Me, MfaState};

/// The words of the banner, a rule kept out of the view.
pub fn policy_banner_text(me: &Me) -> Option<String> {
    let by = me.mfa_required_by.filter(|_| me.mfa != MfaState::Enabled)?;
    Some(if me.mfa_enrolment_required {
        format!(
            "Two-factor authentication is required since {}. Set it up to continue.",
            format_utc(by)
        )
    } else {
        format!(
            "Two-factor authentication is required by {}.",
            format_utc(by)
        )
    })
}

/// Shown while an MFA policy asks this account to enrol.
#[component]
pub fn PolicyBanner(me: Me) -> impl IntoView {
    policy_banner_text(&me).map(|text| {
        view! {
            <p class="notice warn" role="status" data-testid="policy-banner">{text}</p>
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Role;

    fn me(mfa: MfaState, by: Option<i64>, past: bool) -> Me {
        Me {
            email: "a@b.co".into(),
            role: Role::User,
            mfa,
            backup_codes_left: 0,
            trusted_devices: 0,
            mfa_required_by: by,
            mfa_enrolment_required: past,
            sms_available: false,
        }
    }

    #[test]
    fn banner_names_the_date_only_when_enrolment_is_due() {
        let t = 1_800_000_000;
        assert_eq!(
            policy_banner_text(&me(MfaState::Disabled, Some(t), false)).as_deref(),
            Some("Two-factor authentication is required by 2027-01-15 08:00 UTC.")
        );
        assert!(
            policy_banner_text(&me(MfaState::Disabled, Some(t), true))
                .is_some_and(|s| s.contains("Set it up to continue"))
        );
        assert_eq!(
            policy_banner_text(&me(MfaState::Disabled, None, false)),
            None
        );
        assert_eq!(
            policy_banner_text(&me(MfaState::Enabled, Some(t), false)),
            None
        );
    }
}
