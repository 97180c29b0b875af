//! Who someone is: accounts, passwords, sign-up and its links, sessions
//! and their cookies, sign-in challenges, the brute-force limits, and who
//! may do what.

pub mod access;
pub mod accounts;
pub mod challenges;
pub mod cookies;
pub mod links;
pub mod owners;
pub mod password_reset;
pub mod passwords;
pub mod rate_limit;
pub mod recovery;
pub mod sessions;
pub mod sign_in;
pub mod signup;
pub mod validation;
