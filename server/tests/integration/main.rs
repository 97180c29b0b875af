//! Every integration test in one binary: one link instead of two dozen
//! (each was ~400 MB unoptimised), and one place to see what is tested.

mod common;

mod accounts;
mod admin;
mod alerts;
mod authz;
mod binary;
mod commands;
mod devices;
mod email;
mod factors;
mod instances;
mod limits;
mod mail_tls;
mod mfa;
mod migrate_data;
mod oidc;
mod oidc_apps;
mod operations;
mod passkeys;
mod password_reset;
mod proxies;
mod recovery;
mod security;
mod session_rules;
mod sessions;
mod signup;
mod sms;
mod upgrade;
