//! Counters and a latency histogram for `GET /metrics`, written in the
//! Prometheus text exposition format (0.0.4), which every scraper reads.
//! Per process: with several instances, Prometheus adds them up.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard};

use crate::api::SecondFactor;

type Labels = Vec<(&'static str, String)>;

pub const SIGN_INS: &str = "twofold_sign_ins_total";
pub const FACTOR_CHECKS: &str = "twofold_factor_checks_total";
pub const LOCKOUTS: &str = "twofold_lockouts_total";
pub const HTTP_REQUESTS: &str = "twofold_http_requests_total";
pub const HTTP_DURATION: &str = "twofold_http_request_duration_seconds";

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Name, type and help of every family, in the order they are written.
const FAMILIES: [(&str, &str, &str); 5] = [
    (
        SIGN_INS,
        "counter",
        "Password sign-ins by outcome (signed_in also counts completed second steps).",
    ),
    (
        FACTOR_CHECKS,
        "counter",
        "Second-factor checks by method and outcome.",
    ),
    (LOCKOUTS, "counter", "Lockouts started, by what was locked."),
    (
        HTTP_REQUESTS,
        "counter",
        "HTTP requests by route, method and status.",
    ),
    (
        HTTP_DURATION,
        "histogram",
        "HTTP request latency by route and method.",
    ),
];

/// How a password sign-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    SignedIn,
    SecondFactorRequired,
    WrongPassword,
    Locked,
}

impl SignIn {
    fn label(self) -> &'static str {
        match self {
            SignIn::SignedIn => "signed_in",
            SignIn::SecondFactorRequired => "second_factor_required",
            SignIn::WrongPassword => "wrong_password",
            SignIn::Locked => "locked",
        }
    }
}

/// How a second-factor check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorOutcome {
    Success,
    Invalid,
    Replayed,
    Locked,
}

impl FactorOutcome {
    fn label(self) -> &'static str {
        match self {
            FactorOutcome::Success => "success",
            FactorOutcome::Invalid => "invalid",
            FactorOutcome::Replayed => "replayed",
            FactorOutcome::Locked => "locked",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations per bucket (not cumulative; summed when written).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    counters: BTreeMap<&'static str, BTreeMap<Labels, u64>>,
    histograms: BTreeMap<&'static str, BTreeMap<Labels, Histogram>>,
}

#[derive(Debug)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Series a dashboard always expects start at 0, so `rate()` works from
    /// the first scrape.
    pub fn new() -> Self {
        let m = Metrics {
            inner: Mutex::new(Inner::default()),
        };
        {
            let mut inner = m.lock();
            for o in [
                SignIn::SignedIn,
                SignIn::SecondFactorRequired,
                SignIn::WrongPassword,
                SignIn::Locked,
            ] {
                inner.add(SIGN_INS, vec![("outcome", o.label().into())], 0);
            }
            for method in [
                SecondFactor::Totp,
                SecondFactor::BackupCode,
                SecondFactor::EmailCode,
            ] {
                for o in [
                    FactorOutcome::Success,
                    FactorOutcome::Invalid,
                    FactorOutcome::Replayed,
                    FactorOutcome::Locked,
                ] {
                    inner.add(FACTOR_CHECKS, factor_labels(method, o), 0);
                }
            }
            for scope in ["password", "factor"] {
                inner.add(LOCKOUTS, vec![("scope", scope.into())], 0);
            }
        }
        m
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves counts that are
        // still meaningful; keep counting.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn sign_in(&self, outcome: SignIn) {
        self.lock()
            .add(SIGN_INS, vec![("outcome", outcome.label().into())], 1);
    }

    pub fn factor_check(&self, method: SecondFactor, outcome: FactorOutcome) {
        self.lock()
            .add(FACTOR_CHECKS, factor_labels(method, outcome), 1);
    }

    /// `scope` is "password" or "factor".
    pub fn lockout(&self, scope: &'static str) {
        self.lock().add(LOCKOUTS, vec![("scope", scope.into())], 1);
    }

    /// `route` is the route pattern (e.g. `/api/auth/login`), never the raw
    /// path, so the number of series stays bounded.
    pub fn http_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut inner = self.lock();
        inner.add(
            HTTP_REQUESTS,
            vec![
                ("route", route.into()),
                ("method", method.into()),
                ("status", status.to_string()),
            ],
            1,
        );
        let h = inner
            .histograms
            .entry(HTTP_DURATION)
            .or_default()
            .entry(vec![("route", route.into()), ("method", method.into())])
            .or_default();
        let i = BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(BUCKETS.len());
        if let Some(slot) = h.buckets.get_mut(i) {
            *slot += 1;
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The text a scraper reads.
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        for (name, kind, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            if let Some(series) = inner.counters.get(name) {
                for (labels, value) in series {
                    let _ = writeln!(out, "{name}{} {value}", label_text(labels, None));
                }
            }
            if let Some(series) = inner.histograms.get(name) {
                for (labels, h) in series {
                    let mut cumulative = 0;
                    for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                        cumulative += n;
                        let le = bound.to_string();
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {cumulative}",
                            label_text(labels, Some(&le))
                        );
                    }
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {}",
                        label_text(labels, Some("+Inf")),
                        h.count
                    );
                    let _ = writeln!(out, "{name}_sum{} {}", label_text(labels, None), h.sum);
                    let _ = writeln!(out, "{name}_count{} {}", label_text(labels, None), h.count);
                }
            }
        }
        out
    }
}

impl Inner {
    fn add(&mut self, name: &'static str, labels: Labels, by: u64) {
        *self
            .counters
            .entry(name)
            .or_default()
            .entry(labels)
            .or_default() += by;
    }
}

fn factor_labels(method: SecondFactor, outcome: FactorOutcome) -> Labels {
    vec![
        ("method", format!("{method:?}")),
        ("outcome", outcome.label().into()),
    ]
}

/// `{a="x",b="y"}` with values escaped as the format requires.
fn label_text(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counters_start_at_zero_and_move() {
        let m = Metrics::new();
        let before = m.render();
        assert_eq!(
            value_of(&before, "twofold_sign_ins_total{outcome=\"signed_in\"}"),
            Some(0.0)
        );
        m.sign_in(SignIn::SignedIn);
        m.sign_in(SignIn::SignedIn);
        m.factor_check(SecondFactor::Totp, FactorOutcome::Replayed);
        let after = m.render();
        assert_eq!(
            value_of(&after, "twofold_sign_ins_total{outcome=\"signed_in\"}"),
            Some(2.0)
        );
        assert_eq!(
            value_of(
                &after,
                "twofold_factor_checks_total{method=\"Totp\",outcome=\"replayed\"}"
            ),
            Some(1.0)
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::new();
        m.http_request("/healthz", "GET", 200, 0.003);
        m.http_request("/healthz", "GET", 200, 0.2);
        m.http_request("/healthz", "GET", 200, 9.0);
        let text = m.render();
        let bucket = |le: &str| {
            value_of(
                &text,
                &format!(
                    "twofold_http_request_duration_seconds_bucket{{route=\"/healthz\",method=\"GET\",le=\"{le}\"}}"
                ),
            )
        };
        assert_eq!(bucket("0.001"), Some(0.0));
        assert_eq!(bucket("0.005"), Some(1.0));
        assert_eq!(bucket("0.25"), Some(2.0));
        assert_eq!(bucket("5"), Some(2.0));
        assert_eq!(bucket("+Inf"), Some(3.0));
        assert!(text.contains(
            "twofold_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 3"
        ));
    }

    #[test]
    fn every_sample_line_belongs_to_a_declared_family() {
        let m = Metrics::new();
        m.http_request("/a\"b", "GET", 404, 0.01);
        let text = m.render();
        let declared: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert!(
                declared.iter().any(|d| name == *d
                    || name
                        .strip_prefix(d)
                        .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))),
                "{line}"
            );
        }
        assert!(text.contains("route=\"/a\\\"b\""));
    }
}
