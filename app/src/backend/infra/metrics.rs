//! Counters and a latency histogram for `GET /metrics`, kept by the official
//! `prometheus-client` crate (atomic counters; a lock per series only for
//! the histogram) and written in the Prometheus text exposition format
//! (0.0.4), which every scraper reads. Per process: with several instances,
//! Prometheus adds them up.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::SecondFactor;

/// The `Content-Type` of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
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
    const ALL: [SignIn; 4] = [
        SignIn::SignedIn,
        SignIn::SecondFactorRequired,
        SignIn::WrongPassword,
        SignIn::Locked,
    ];

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
    const ALL: [FactorOutcome; 4] = [
        FactorOutcome::Success,
        FactorOutcome::Invalid,
        FactorOutcome::Replayed,
        FactorOutcome::Locked,
    ];

    fn label(self) -> &'static str {
        match self {
            FactorOutcome::Success => "success",
            FactorOutcome::Invalid => "invalid",
            FactorOutcome::Replayed => "replayed",
            FactorOutcome::Locked => "locked",
        }
    }
}

// Label sets: the field names are the label names, in this order.

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FactorLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

fn method_label(method: SecondFactor) -> &'static str {
    match method {
        SecondFactor::Totp => "Totp",
        SecondFactor::BackupCode => "BackupCode",
        SecondFactor::EmailCode => "EmailCode",
        SecondFactor::Passkey => "Passkey",
        SecondFactor::SmsCode => "SmsCode",
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    sign_ins: Family<OutcomeLabels, Counter>,
    factor_checks: Family<FactorLabels, Counter>,
    lockouts: Family<ScopeLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Series a dashboard always expects start at 0, so `rate()` works from
    /// the first scrape (`get_or_create` makes them; the guard is let go).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let sign_ins = Family::<OutcomeLabels, Counter>::default();
        let factor_checks = Family::<FactorLabels, Counter>::default();
        let lockouts = Family::<ScopeLabels, Counter>::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        // Counters get their `_total` suffix from the crate.
        registry.register(
            "twofold_sign_ins",
            "Password sign-ins by outcome (signed_in also counts completed second steps)",
            sign_ins.clone(),
        );
        registry.register(
            "twofold_factor_checks",
            "Second-factor checks by method and outcome",
            factor_checks.clone(),
        );
        registry.register(
            "twofold_lockouts",
            "Lockouts started, by what was locked",
            lockouts.clone(),
        );
        registry.register(
            "twofold_http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "twofold_http_request_duration_seconds",
            "HTTP request latency by route and method",
            latency.clone(),
        );
        for o in SignIn::ALL {
            drop(sign_ins.get_or_create(&OutcomeLabels { outcome: o.label() }));
        }
        for method in [
            SecondFactor::Totp,
            SecondFactor::BackupCode,
            SecondFactor::EmailCode,
            SecondFactor::Passkey,
            SecondFactor::SmsCode,
        ] {
            for o in FactorOutcome::ALL {
                drop(factor_checks.get_or_create(&FactorLabels {
                    method: method_label(method),
                    outcome: o.label(),
                }));
            }
        }
        for scope in ["password", "factor"] {
            drop(lockouts.get_or_create(&ScopeLabels { scope }));
        }
        Metrics {
            registry,
            sign_ins,
            factor_checks,
            lockouts,
            requests,
            latency,
        }
    }

    pub fn sign_in(&self, outcome: SignIn) {
        self.sign_ins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
    }

    pub fn factor_check(&self, method: SecondFactor, outcome: FactorOutcome) {
        self.factor_checks
            .get_or_create(&FactorLabels {
                method: method_label(method),
                outcome: outcome.label(),
            })
            .inc();
    }

    /// `scope` is "password" or "factor".
    pub fn lockout(&self, scope: &'static str) {
        self.lockouts.get_or_create(&ScopeLabels { scope }).inc();
    }

    /// `route` is the route pattern (e.g. `/api/auth/login`), never the raw
    /// path, so the number of series stays bounded; so is `method` (the
    /// caller maps made-up methods to one label).
    pub fn http_request(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method,
            })
            .observe(seconds);
    }

    /// The text a scraper reads ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an error would mean a bug in
        // the encoder, and a partial page is still better than none.
        if let Err(e) = prometheus_text::encode(&mut out, &self.registry) {
            tracing::error!("encoding the metrics failed: {e}");
        }
        out
    }
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

    #[test]
    fn recording_from_many_threads_loses_nothing() {
        let m = std::sync::Arc::new(Metrics::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        m.http_request("/api/me", "GET", 200, 0.0001);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let text = m.render();
        assert_eq!(
            value_of(
                &text,
                "twofold_http_requests_total{route=\"/api/me\",method=\"GET\",status=\"200\"}"
            ),
            Some(4000.0)
        );
    }
}
