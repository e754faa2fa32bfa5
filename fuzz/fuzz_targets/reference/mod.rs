//! An HS256 JWT verifier written from the RFCs, sharing no decoding code
//! with tower-users (which uses `jsonwebtoken` and the `base64` crate): its
//! own base64url decoder (RFC 4648 §5), its own compact-serialization split
//! (RFC 7515 §7.1), HMAC-SHA-256 from the `hmac-sha256` crate, and the claim
//! rules the library documents for its tokens.
//!
//! Where an RFC leaves a choice, the choice is written here beside the rule;
//! each is one the RFC allows, so a disagreement with the library is either a
//! library bug or an undocumented rule, and both deserve a look.

mod json;

use serde_json::Value;
use uuid::Uuid;

use json::{Entries, Others};

/// The claims of an accepted token, for comparison with the library's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub sub: Uuid,
    pub typ: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub pv: Option<u64>,
    pub sid: Option<Uuid>,
    pub email: Option<String>,
}

/// The longest token the library reads (`tower_users::token::MAX_TOKEN_LEN`).
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Header parameters the verifier interprets: RFC 7515 §4.1's registered
/// names, plus the JWE names (RFC 7516 §4.1) the library also parses. RFC
/// 7515 §4 lets a parser either reject duplicate names or keep the last one;
/// duplicates of these are rejected, duplicates of any other name keep the
/// last (their value is never read).
const HEADER_NAMES: &[&str] = &[
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "enc",
    "zip", "url", "nonce",
];

/// Header parameters the library never issues and refuses: a key id, key
/// URL, embedded key, certificate, or critical extension (RFC 7515 §4.1.11:
/// a verifier that does not understand a `crit` extension must reject).
const FORBIDDEN_HEADERS: &[&str] = &["jku", "jwk", "kid", "x5u", "x5c", "crit"];

/// Claims the verifier interprets (RFC 7519 §4.1 and the library's own):
/// duplicates of these are rejected (RFC 7519 §4 allows that choice).
const CLAIM_NAMES: &[&str] = &[
    "sub", "typ", "aud", "iat", "exp", "jti", "pv", "sid", "email", "nbf", "iss",
];

pub struct Reference {
    pub secret: Vec<u8>,
    pub audience: String,
}

type Verdict = Result<Accepted, &'static str>;

impl Reference {
    /// Verifies `token` for an endpoint taking `purposes`, at unix time `now`.
    pub fn verify(&self, token: &str, purposes: &[&str], now: i64) -> Verdict {
        if token.len() > MAX_TOKEN_LEN {
            return Err("longer than the library's limit");
        }
        // RFC 7515 §7.1: exactly three base64url parts joined by two dots.
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts[..] else {
            return Err("not three parts");
        };
        check_header(&json::object(
            &base64url(header)?,
            HEADER_NAMES,
            Others::Read,
        )?)?;
        // RFC 7515 §5.2: the MAC is over the encoded header and payload as
        // they appear in the token, not over re-encoded values.
        let signing_input = &token[..header.len() + 1 + payload.len()];
        let mac = hmac_sha256::HMAC::mac(signing_input.as_bytes(), &self.secret);
        if base64url(signature)? != mac {
            return Err("bad signature");
        }
        let claims = json::object(&base64url(payload)?, CLAIM_NAMES, Others::Skip)?;
        self.check_claims(&claims, purposes, now)
    }

    fn check_claims(&self, claims: &Entries, purposes: &[&str], now: i64) -> Verdict {
        claims.unique(CLAIM_NAMES)?;
        let uuid = |name| match claims.get(name) {
            Some(Value::String(s)) => Uuid::parse_str(s).map_err(|_| "not a UUID"),
            _ => Err("UUID claim missing"),
        };
        let optional_uuid = |name| match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => uuid(name).map(Some),
        };
        let sub = uuid("sub")?;
        let jti = uuid("jti")?;
        let sid = optional_uuid("sid")?;
        let typ = match claims.get("typ") {
            Some(Value::String(t)) if purposes.contains(&t.as_str()) => t.clone(),
            _ => return Err("not a purpose this endpoint takes"),
        };
        // The library's audience is one string; RFC 7519 §4.1.3 also allows
        // an array, which tokens issued here never use: refused.
        let aud = match claims.get("aud") {
            Some(Value::String(a)) if *a == self.audience => a.clone(),
            _ => return Err("wrong audience"),
        };
        // NumericDate (RFC 7519 §2) may be fractional; the library's `iat`
        // and `exp` are whole seconds (all it issues), so only integers pass.
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or("iat missing or not an integer")?;
        let exp = match claims.get("exp").map(|v| (v.as_i64(), v.as_u64())) {
            Some((Some(exp), Some(_))) => exp,
            _ => return Err("exp missing or not a non-negative integer"),
        };
        // RFC 7519 §4.1.4 with no leeway: the token is dead from `exp` on.
        if exp <= now {
            return Err("expired");
        }
        if let Some(nbf) = claims.get("nbf") {
            check_not_before(nbf, now)?;
        }
        let pv = match claims.get("pv") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or("pv not an unsigned integer")?),
        };
        let email = match claims.get("email") {
            None | Some(Value::Null) => None,
            Some(Value::String(e)) => Some(e.clone()),
            Some(_) => return Err("email not a string"),
        };
        Ok(Accepted {
            sub,
            typ,
            aud,
            iat,
            exp,
            jti,
            pv,
            sid,
            email,
        })
    }
}

/// RFC 7519 §4.1.5: refused before `nbf`. It must be a NumericDate: a
/// non-negative number, fractions allowed, compared at whole seconds by
/// rounding to the nearest (a sub-second leeway, which §4.1.5 allows).
fn check_not_before(nbf: &Value, now: i64) -> Result<(), &'static str> {
    let Value::Number(n) = nbf else {
        return Err("nbf not a number");
    };
    let seconds = if let Some(whole) = n.as_u64() {
        whole
    } else if n.is_f64() {
        let f = n.as_f64().unwrap_or(f64::NAN);
        if !(f.is_finite() && f >= 0.0 && f < u64::MAX as f64) {
            return Err("nbf out of range");
        }
        f.round() as u64
    } else {
        return Err("nbf negative");
    };
    if seconds > u64::try_from(now).unwrap_or(0) {
        return Err("not yet valid");
    }
    Ok(())
}

fn check_header(header: &Entries) -> Result<(), &'static str> {
    header.unique(HEADER_NAMES)?;
    // RFC 7515 §4.1.1 and RFC 8725 §3.1: the algorithm is pinned, not read.
    if header.get("alg") != Some(&Value::String("HS256".into())) {
        return Err("alg is not HS256");
    }
    for name in HEADER_NAMES.iter().filter(|n| **n != "alg") {
        // A JSON null is taken as "not present", as the library's parser
        // does: harmless, it carries nothing.
        match header.get(name) {
            None | Some(Value::Null) => {}
            Some(_) if FORBIDDEN_HEADERS.contains(name) => return Err("forbidden header"),
            Some(Value::String(_)) => {}
            Some(_) => return Err("header parameter not a string"),
        }
    }
    Ok(())
}

/// Base64url without padding, strictly (RFC 7515 §2: no `=`, no line
/// breaks, whitespace or other characters). RFC 4648 §3.5 lets a decoder
/// reject non-zero unused bits in the last character; this one does, so
/// every byte string has exactly one encoding.
pub fn base64url(text: &str) -> Result<Vec<u8>, &'static str> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 == 1 {
        return Err("base64url length impossible");
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in bytes {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return Err("not a base64url character"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        return Err("non-zero unused bits");
    }
    Ok(out)
}
