//! What the rules stand on: the database, mail, keys and sealing, the
//! clock, metrics, HTTP helpers and the hourly housekeeping.

pub mod clock;
pub mod crypto;
pub mod db;
pub mod direct;
pub mod housekeeping;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod sms;
