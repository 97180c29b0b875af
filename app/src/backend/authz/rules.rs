//! Access rules for the apps Twofold guards (`--access-rules FILE`, TOML):
//! ordered rules, the first that matches decides; `default_policy` when none
//! does. Checked whole at start-up, so a mistake stops the server with the
//! line it is on instead of letting the wrong people through later.

use regex::Regex;
use serde::Deserialize;

use crate::api::Role;

/// What a rule asks of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Let it through, signed in or not.
    Bypass,
    /// Any session.
    OneFactor,
    /// A session made with a second factor (or a passkey).
    TwoFactor,
    /// Nobody.
    Deny,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Bypass => "bypass",
            Policy::OneFactor => "one_factor",
            Policy::TwoFactor => "two_factor",
            Policy::Deny => "deny",
        }
    }
}

/// A bad rules file: where, and what is wrong, in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access rules, line {line}: {message}")]
pub struct RulesError {
    pub line: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    #[serde(default = "deny")]
    default_policy: Policy,
    #[serde(default)]
    rules: Vec<toml::Spanned<RuleText>>,
}

fn deny() -> Policy {
    Policy::Deny
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    domain: OneOrMany,
    path: Option<OneOrMany>,
    methods: Option<Vec<String>>,
    roles: Option<Vec<String>>,
    users: Option<Vec<String>>,
    policy: Policy,
}

#[derive(Debug, Clone)]
enum DomainPattern {
    Exact(String),
    /// `*.example.com`: any name ending in `.example.com` (not the bare
    /// `example.com`).
    Suffix(String),
}

impl DomainPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            DomainPattern::Exact(d) => host == d,
            DomainPattern::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
enum PathPattern {
    Prefix(String),
    Regex(Regex),
}

impl PathPattern {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Prefix(p) => path.starts_with(p.as_str()),
            PathPattern::Regex(r) => r.is_match(path),
        }
    }
}

/// One rule as checked.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where it starts in the file (1-based), for operators.
    pub line: usize,
    domains: Vec<DomainPattern>,
    paths: Vec<PathPattern>,
    methods: Vec<String>,
    roles: Vec<Role>,
    users: Vec<String>,
    pub policy: Policy,
    /// The domains and paths as written, for the admin page.
    domain_text: Vec<String>,
    path_text: Vec<String>,
}

impl Rule {
    /// The rule as the admin page shows it.
    pub fn info(&self) -> crate::api::AccessRuleInfo {
        crate::api::AccessRuleInfo {
            line: u32::try_from(self.line).unwrap_or(u32::MAX),
            domains: self.domain_text.clone(),
            paths: self.path_text.clone(),
            methods: self.methods.clone(),
            roles: self.roles.iter().map(|r| r.as_str().to_string()).collect(),
            users: self.users.clone(),
            policy: self.policy.as_str().to_string(),
        }
    }

    /// Whether the rule names who it is for (then an anonymous request can
    /// only be decided after signing in).
    fn has_subject(&self) -> bool {
        !self.roles.is_empty() || !self.users.is_empty()
    }

    fn matches_resource(&self, req: &Resource<'_>) -> bool {
        self.domains.iter().any(|d| d.matches(req.host))
            && (self.paths.is_empty() || self.paths.iter().any(|p| p.matches(req.path)))
            && (self.methods.is_empty() || self.methods.iter().any(|m| m == req.method))
    }

    fn matches_subject(&self, who: &Subject<'_>) -> bool {
        (self.roles.is_empty() || self.roles.contains(&who.role))
            && (self.users.is_empty() || self.users.iter().any(|u| u == who.email))
    }
}

/// The request a proxy asks about: host (lower case, no port), path, method
/// (upper case).
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    pub host: &'a str,
    pub path: &'a str,
    pub method: &'a str,
}

/// Who is asking, when signed in.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub email: &'a str,
    pub role: Role,
}

/// What the rules say about a request: the policy, and the rule's line
/// (`None`: the default policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub policy: Policy,
    pub line: Option<usize>,
}

/// The whole rules file, checked.
#[derive(Debug, Clone)]
pub struct AccessRules {
    pub default_policy: Policy,
    pub rules: Vec<Rule>,
}

impl Default for AccessRules {
    /// No file: nothing is let through (the safe default).
    fn default() -> Self {
        AccessRules {
            default_policy: Policy::Deny,
            rules: Vec::new(),
        }
    }
}

/// The 1-based line of a byte offset, for errors that name the line.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl AccessRules {
    pub fn parse(text: &str) -> Result<Self, RulesError> {
        let file: FileText = toml::from_str(text).map_err(|e| RulesError {
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            message: e.message().split_whitespace().collect::<Vec<_>>().join(" "),
        })?;
        let rules = file
            .rules
            .into_iter()
            .map(|spanned| {
                let line = line_of(text, spanned.span().start);
                check_rule(spanned.into_inner(), line)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AccessRules {
            default_policy: file.default_policy,
            rules,
        })
    }

    /// The first rule that matches decides. A rule that names roles or
    /// users cannot match a request nobody is signed in to; it asks for a
    /// session first (at least `one_factor`), and decides after sign-in.
    pub fn decide(&self, req: &Resource<'_>, who: Option<&Subject<'_>>) -> Verdict {
        for rule in &self.rules {
            if !rule.matches_resource(req) {
                continue;
            }
            match who {
                Some(who) if rule.has_subject() && !rule.matches_subject(who) => continue,
                None if rule.has_subject() => {
                    return Verdict {
                        policy: match rule.policy {
                            Policy::Bypass | Policy::Deny => Policy::OneFactor,
                            other => other,
                        },
                        line: Some(rule.line),
                    };
                }
                _ => {
                    return Verdict {
                        policy: rule.policy,
                        line: Some(rule.line),
                    };
                }
            }
        }
        Verdict {
            policy: self.default_policy,
            line: None,
        }
    }

    /// Every domain a rule names (for where `rd` may send people back to).
    pub fn covers_host(&self, host: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.domains.iter().any(|d| d.matches(host)))
    }
}

fn check_rule(rule: RuleText, line: usize) -> Result<Rule, RulesError> {
    // One line whatever the parts say (a regex error spans several).
    let bad = |message: String| RulesError {
        line,
        message: message.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    let domain_text: Vec<String> = rule.domain.into_vec();
    let domains = domain_text
        .iter()
        .map(|d| {
            let d = d.trim().to_ascii_lowercase();
            let plain = d.strip_prefix("*.").unwrap_or(&d);
            let valid = !plain.is_empty()
                && plain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                && !plain.starts_with('.')
                && !plain.ends_with('.');
            if !valid {
                return Err(bad(format!(
                    "domain '{d}' is not a host name or '*.example.com'"
                )));
            }
            Ok(match d.strip_prefix('*') {
                Some(suffix) => DomainPattern::Suffix(suffix.to_string()),
                None => DomainPattern::Exact(d),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if domains.is_empty() {
        return Err(bad("a rule needs at least one domain".into()));
    }
    let path_text: Vec<String> = rule.path.map(OneOrMany::into_vec).unwrap_or_default();
    let paths = path_text
        .iter()
        .map(|p| {
            if p.starts_with('^') {
                Regex::new(p)
                    .map(PathPattern::Regex)
                    .map_err(|e| bad(format!("path '{p}' is not a valid regex: {e}")))
            } else if p.starts_with('/') {
                Ok(PathPattern::Prefix(p.clone()))
            } else {
                Err(bad(format!(
                    "path '{p}' must start with '/' (a prefix) or '^' (a regex)"
                )))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let methods = rule
        .methods
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let m = m.trim().to_ascii_uppercase();
            if m.is_empty() || !m.chars().all(|c| c.is_ascii_uppercase()) {
                Err(bad(format!("method '{m}' is not an HTTP method")))
            } else {
                Ok(m)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let roles = rule
        .roles
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            Role::parse(&r).ok_or_else(|| bad(format!("role '{r}' is not one of Admin, User")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let users = rule
        .users
        .unwrap_or_default()
        .into_iter()
        .map(|u| u.trim().to_lowercase())
        .collect();
    Ok(Rule {
        line,
        domains,
        paths,
        methods,
        roles,
        users,
        policy: rule.policy,
        domain_text,
        path_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"default_policy = "deny"

[[rules]]
domain = "public.example.com"
policy = "bypass"

[[rules]]
domain = "*.example.com"
path = ["/admin", "^/api/v[0-9]+/admin"]
methods = ["POST", "DELETE"]
roles = ["Admin"]
policy = "two_factor"

[[rules]]
domain = ["wiki.example.com", "git.example.com"]
users = ["ana@example.com"]
policy = "deny"

[[rules]]
domain = "*.example.com"
policy = "one_factor"
"#;

    fn rules() -> AccessRules {
        AccessRules::parse(FILE).expect("valid file")
    }

    fn get<'a>(host: &'a str, path: &'a str) -> Resource<'a> {
        Resource {
            host,
            path,
            method: "GET",
        }
    }

    const ANA: Subject<'static> = Subject {
        email: "ana@example.com",
        role: Role::User,
    };
    const ROOT: Subject<'static> = Subject {
        email: "root@example.com",
        role: Role::Admin,
    };

    #[test]
    fn first_match_wins_with_lines() {
        let r = rules();
        let v = r.decide(&get("public.example.com", "/"), None);
        assert_eq!((v.policy, v.line), (Policy::Bypass, Some(3)));
        let v = r.decide(&get("grafana.example.com", "/"), Some(&ANA));
        assert_eq!((v.policy, v.line), (Policy::OneFactor, Some(19)));
    }

    #[test]
    fn wildcards_never_match_the_bare_domain_or_lookalikes() {
        let r = rules();
        for host in ["example.com", "example.com.evil.net", "evilexample.com"] {
            assert_eq!(
                r.decide(&get(host, "/"), Some(&ROOT)).policy,
                Policy::Deny,
                "{host}"
            );
        }
        assert_eq!(
            r.decide(&get("a.b.example.com", "/"), Some(&ROOT)).policy,
            Policy::OneFactor
        );
    }

    #[test]
    fn paths_methods_and_roles_narrow_a_rule() {
        let r = rules();
        let post = |path| Resource {
            host: "app.example.com",
            path,
            method: "POST",
        };
        assert_eq!(
            r.decide(&post("/admin/users"), Some(&ROOT)).policy,
            Policy::TwoFactor
        );
        assert_eq!(
            r.decide(&post("/api/v2/admin"), Some(&ROOT)).policy,
            Policy::TwoFactor
        );
        // Not an admin, a GET, or another path: the catch-all.
        assert_eq!(
            r.decide(&post("/admin"), Some(&ANA)).policy,
            Policy::OneFactor
        );
        assert_eq!(
            r.decide(&get("app.example.com", "/admin"), Some(&ROOT))
                .policy,
            Policy::OneFactor
        );
        assert_eq!(
            r.decide(&post("/api/vx/admin"), Some(&ROOT)).policy,
            Policy::OneFactor
        );
    }

    #[test]
    fn a_rule_for_someone_asks_an_anonymous_request_to_sign_in() {
        let r = rules();
        let wiki = get("wiki.example.com", "/");
        assert_eq!(r.decide(&wiki, Some(&ANA)).policy, Policy::Deny);
        assert_eq!(r.decide(&wiki, Some(&ROOT)).policy, Policy::OneFactor);
        assert_eq!(r.decide(&wiki, None).policy, Policy::OneFactor);
    }

    #[test]
    fn the_default_applies_when_nothing_matches() {
        let r = AccessRules::parse("default_policy = \"one_factor\"").expect("file");
        let v = r.decide(&get("anything.test", "/"), None);
        assert_eq!((v.policy, v.line), (Policy::OneFactor, None));
        assert_eq!(
            AccessRules::default()
                .decide(&get("x.test", "/"), None)
                .policy,
            Policy::Deny
        );
    }

    #[test]
    fn a_bad_file_names_the_line_and_the_problem() {
        let cases = [
            ("default_policy = \"maybe\"", 1, "unknown variant"),
            (
                "[[rules]]\ndomain = \"a.test\"\npolicy = \"bypass\"\ncolour = 1\n",
                4,
                "colour",
            ),
            (
                "\n\n[[rules]]\ndomain = \"a b\"\npolicy = \"deny\"\n",
                3,
                "not a host name",
            ),
            (
                "[[rules]]\ndomain = \"a.test\"\npath = \"admin\"\npolicy = \"deny\"\n",
                1,
                "must start with",
            ),
            (
                "[[rules]]\ndomain = \"a.test\"\npath = \"^(\"\npolicy = \"deny\"\n",
                1,
                "regex",
            ),
            (
                "[[rules]]\ndomain = \"a.test\"\nroles = [\"Root\"]\npolicy = \"deny\"\n",
                1,
                "role 'Root'",
            ),
            ("[[rules]]\ndomain = \"a.test\"\n", 1, "policy"),
            ("default_policy = ", 1, ""),
        ];
        for (text, line, words) in cases {
            let e = AccessRules::parse(text).expect_err(text);
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.message.contains(words), "{text}: {e}");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
    }
}
