//! TOTP (RFC 6238) over totp-rs, with time always passed in: secrets, the
//! otpauth URI, the QR code, and verification that returns the matched time
//! step so the caller can refuse replays atomically in the database.

use rand::RngCore;
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use crate::backend::infra::clock::UnixTime;

pub const DIGITS: usize = 6;
pub const PERIOD_S: u64 = 30;
/// Steps accepted either side of now (clock drift of the phone).
pub const SKEW_STEPS: i64 = 1;
/// 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// A TOTP shared secret. Zeroized on drop, redacted in Debug, not Serialize.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
        OsRng.fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Self {
        TotpSecret(bytes)
    }

    /// Reads a base32 key as apps show it (case and spaces ignored).
    pub fn from_base32(text: &str) -> Option<Self> {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = Zeroizing::new(Vec::new());
        let (mut buffer, mut bits) = (0u32, 0u32);
        for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
            let v = ALPHABET
                .iter()
                .position(|&a| char::from(a) == c.to_ascii_uppercase())?;
            buffer = (buffer << 5) | v as u32;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
            }
        }
        Some(TotpSecret(out))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as authenticator apps expect.
    pub fn base32(&self) -> String {
        base32_encode(&self.0)
    }

    /// The key in groups of four for reading and typing: `ABCD EFGH ...`.
    pub fn base32_grouped(&self) -> String {
        let plain = self.base32();
        plain
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn totp(&self) -> TOTP {
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, PERIOD_S, self.0.to_vec())
    }

    /// The code for the step containing `t` (for tests and the bench tool).
    pub fn code_at(&self, t: UnixTime) -> String {
        self.totp().generate(t.max(0) as u64)
    }
}

fn base32_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The Key URI Format: `otpauth://totp/Issuer:email?secret=..&issuer=Issuer&...`.
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_S}",
        percent_encode(issuer),
        percent_encode(account),
        secret.base32(),
        percent_encode(issuer),
    )
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The otpauth URI as an SVG QR code, rendered on the server.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
    )
}

/// A typed code: spaces are ignored; anything but six digits is refused.
pub fn parse_code(input: &str) -> Option<String> {
    let code: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    (code.len() == DIGITS && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
}

/// The time step `t` falls in.
pub fn step_of(t: UnixTime) -> i64 {
    t.div_euclid(PERIOD_S as i64)
}

/// Checks `code` against the steps around `now` and returns the step it
/// matches. Every candidate is compared in constant time. Whether that step
/// was already used is decided by the caller, atomically, in the database.
pub fn matching_step(secret: &TotpSecret, code: &str, now: UnixTime) -> Option<i64> {
    let totp = secret.totp();
    let current = step_of(now);
    let mut found = None;
    for step in (current - SKEW_STEPS)..=(current + SKEW_STEPS) {
        if step < 0 {
            continue;
        }
        let expected = totp.generate((step as u64) * PERIOD_S);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: seeds are the ASCII "1234567890" repeated to 20,
    /// 32 and 64 bytes for SHA1, SHA256 and SHA512; 8 digits.
    #[test]
    fn rfc6238_appendix_b_vectors() {
        let seed = |n: usize| {
            b"1234567890"
                .iter()
                .copied()
                .cycle()
                .take(n)
                .collect::<Vec<u8>>()
        };
        let cases: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, sha1, sha256, sha512) in cases {
            for (alg, len, want) in [
                (Algorithm::SHA1, 20, sha1),
                (Algorithm::SHA256, 32, sha256),
                (Algorithm::SHA512, 64, sha512),
            ] {
                let totp = TOTP::new_unchecked(alg, 8, 0, 30, seed(len));
                assert_eq!(totp.generate(t), want, "t={t} {alg:?}");
            }
        }
    }

    fn secret() -> TotpSecret {
        TotpSecret::from_bytes(Zeroizing::new(b"12345678901234567890".to_vec()))
    }

    #[test]
    fn skew_edges_accept_one_step_either_side_only() {
        let s = secret();
        let now: UnixTime = 1_800_000_015; // mid-step
        let current = step_of(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = s.code_at((current + offset) * 30);
            let got = matching_step(&s, &code, now);
            if accepted {
                assert_eq!(got, Some(current + offset), "offset {offset}");
            } else {
                assert_eq!(got, None, "offset {offset}");
            }
        }
    }

    #[test]
    fn wrong_codes_never_match() {
        let s = secret();
        let now = 1_800_000_000;
        let right = s.code_at(now);
        let wrong = format!("{:06}", (right.parse::<u32>().unwrap_or(0) + 1) % 1_000_000);
        assert_eq!(matching_step(&s, &wrong, now), None);
        assert_eq!(matching_step(&s, "", now), None);
    }

    #[test]
    fn parse_code_tolerates_spaces_only() {
        assert_eq!(parse_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(parse_code("123456").as_deref(), Some("123456"));
        for bad in [
            "12345",
            "1234567",
            "12a456",
            "١٢٣٤٥٦",
            "123-456",
            "' OR 1=1",
        ] {
            assert_eq!(parse_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn uri_follows_the_key_uri_format() {
        let s = secret();
        let uri = otpauth_uri(&s, "Twofold", "ana@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Twofold:ana%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Twofold&algorithm=SHA1&digits=6&period=30"
        );
        assert!(otpauth_uri(&s, "My Co", "a@b.co").starts_with("otpauth://totp/My%20Co:a%40b.co?"));
    }

    #[test]
    fn secrets_are_160_bit_random_and_grouped_for_reading() {
        let a = TotpSecret::generate();
        assert_eq!(a.expose().len(), 20);
        assert_ne!(a.expose(), TotpSecret::generate().expose());
        assert_eq!(a.base32().len(), 32);
        let grouped = a.base32_grouped();
        assert_eq!(grouped.split(' ').count(), 8);
        assert_eq!(grouped.replace(' ', ""), a.base32());
        assert!(!format!("{a:?}").contains(&a.base32()));
        let back = TotpSecret::from_base32(&grouped.to_lowercase());
        assert_eq!(back.map(|b| b.expose().to_vec()), Some(a.expose().to_vec()));
        assert!(TotpSecret::from_base32("not base32!").is_none());
    }

    #[test]
    fn qr_is_an_svg() {
        let svg = qr_svg("otpauth://totp/X:y?secret=AAAA").unwrap_or_default();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
}
