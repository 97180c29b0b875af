//! Mail over TLS to a real SMTP server in the test: TLS from the start
//! (`smtps://`) and STARTTLS (`?tls=required`), with credentials only once
//! the connection is encrypted, and a certificate the mailer must verify.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use app::backend::infra::clock::FixedClock;
use app::backend::infra::mail::{MailError, Mailer};
use common::TestServer;
use common::smtp_sink::{CODE_SUBJECT, SmtpSink, TlsMode, code_in};
use common::twofactor::{T0, answer, challenge, enrol};
use reqwest::StatusCode;
use serde_json::json;
use twofold_server::config::SecurityArgs;

const FROM: &str = "Twofold <twofold@example.com>";

async fn send_one(sink: &SmtpSink, ca: Option<&str>) -> Mailer {
    let credentials = Some(("mailer".to_string(), "s3cret".to_string()));
    let mailer =
        Mailer::smtp(&sink.url(), FROM, credentials, ca.map(str::as_bytes)).expect("mailer");
    mailer.send_later("ann@example.com", "Over TLS", "Hello over TLS.".into());
    mailer.drain(Duration::from_secs(15)).await;
    mailer
}

#[tokio::test]
async fn tls_from_the_start_verifies_the_server_and_authenticates() {
    let sink = SmtpSink::start_tls(TlsMode::Implicit).await;
    send_one(&sink, Some(&sink.ca_pem)).await;
    let mail = sink.wait_for_subject("Over TLS", 1).await;
    assert!(mail[0].contains("To: ann@example.com"));
    assert_eq!(sink.auths(), vec!["mailer s3cret".to_string()]);
}

#[tokio::test]
async fn starttls_upgrades_before_the_credentials_are_sent() {
    let sink = SmtpSink::start_tls(TlsMode::StartTls).await;
    send_one(&sink, Some(&sink.ca_pem)).await;
    sink.wait_for_subject("Over TLS", 1).await;
    // The sink offers AUTH only after the upgrade, so this proves the order.
    assert_eq!(sink.auths(), vec!["mailer s3cret".to_string()]);
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let sink = SmtpSink::start_tls(TlsMode::Implicit).await;
    send_one(&sink, None).await;
    assert!(
        sink.messages().is_empty(),
        "nothing goes to an unverified server"
    );
    assert!(sink.auths().is_empty(), "and no password either");
    let other = SmtpSink::start_tls(TlsMode::StartTls).await;
    send_one(&other, Some(&sink.ca_pem)).await;
    assert!(other.messages().is_empty() && other.auths().is_empty());
}

#[test]
fn a_ca_file_needs_a_tls_url_and_a_certificate() {
    let sink_pem = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    let plain = Mailer::smtp("smtp://127.0.0.1:25", FROM, None, Some(sink_pem.as_bytes()));
    assert!(matches!(plain, Err(MailError::BadCa(_))));
    let garbage = Mailer::smtp("smtps://mail.example.com", FROM, None, Some(b"hello"));
    assert!(matches!(garbage, Err(MailError::BadCa(_))));
}

#[tokio::test]
async fn an_emailed_code_arrives_over_starttls_and_signs_in() {
    let clock = FixedClock::new(T0);
    let sink = SmtpSink::start_tls(TlsMode::StartTls).await;
    let ca_dir = tempfile::tempdir().expect("temp");
    let ca_file = ca_dir.path().join("ca.pem");
    std::fs::write(&ca_file, &sink.ca_pem).expect("write ca");
    let security = SecurityArgs {
        smtp_url: Some(sink.url()),
        smtp_ca_file: Some(ca_file),
        ..common::security()
    };
    let s = TestServer::start_full(Arc::new(clock.clone()), None, security).await;
    let e = enrol(&s, &clock, "tls@example.com").await;
    let c = challenge(&s, &e.email).await;
    let r = s.post(&c, "/api/auth/email-code", json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = sink.wait_for_subject(CODE_SUBJECT, 1).await;
    let code = code_in(&mail[0]);
    assert_eq!(
        answer(&s, &c, "EmailCode", &code).await.status(),
        StatusCode::OK
    );
}
