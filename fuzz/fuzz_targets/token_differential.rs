//! Token decoding, differentially: every input is decoded by tower-users
//! (access tokens, and the verify and reset endpoints' `decode_any`) and by
//! an independent verifier written from RFC 7515/7519 (`reference/`). Any
//! disagreement on accept, or on the claims accepted, is a crash.
//!
//! Input: a mode byte, then
//! - mode % 4 == 0: a token string, as is (the Wycheproof seeds are these);
//! - otherwise: a twist byte, a two-byte header length, the header JSON
//!   bytes, and the payload JSON bytes. The harness encodes and signs them
//!   with the secret, so most inputs get past the signature and the claim
//!   rules are what is compared. The twist bends the encoding (padding,
//!   another alphabet, stray bytes, non-canonical bits) after which the MAC
//!   is taken over the bent text, so only base64url strictness can refuse.
//!   In the payload, `N0W` is replaced by the current unix time, and
//!   `N0W+d` / `N0W-d` by that time plus or minus the digit d, so expiry
//!   edges can be reached from static seeds.
#![no_main]

#[path = "reference/mod.rs"]
mod reference;

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use libfuzzer_sys::fuzz_target;
use reference::{Accepted, Reference};
use tower_users::token::{Claims, Purpose, Tokens};

/// The HS256 key of Wycheproof's `json_web_signature_test.json` "hs256"
/// group: its vectors are then validly signed here too.
const SECRET: &str = "-ebuDNsVZ2iJtoZ-akfXTSCt4UO2cruLCsbWlBinggE";
const AUDIENCE: &str = "tower-users";

struct Fixture {
    tokens: Tokens,
    reference: Reference,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let secret = reference::base64url(SECRET).unwrap();
    Fixture {
        tokens: Tokens::new(&secret, AUDIENCE).unwrap(),
        reference: Reference {
            secret,
            audience: AUDIENCE.to_owned(),
        },
    }
});

/// The endpoints' purpose sets: access, `POST /verify`, `POST /password-reset`.
const ENDPOINTS: &[(&[Purpose], &[&str])] = &[
    (&[Purpose::Access], &["access"]),
    (
        &[Purpose::Verify, Purpose::EmailChange],
        &["verify", "email_change"],
    ),
    (&[Purpose::Reset], &["reset"]),
];

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode % 4 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        match signed(rest) {
            Some(token) => token,
            None => return,
        }
    };
    let f = &*FIXTURE;
    for (purposes, names) in ENDPOINTS {
        let before = now();
        let library = f.tokens.decode_any(&token, purposes);
        let after = now();
        let early = f.reference.verify(&token, names, before);
        let late = f.reference.verify(&token, names, after);
        if early.is_ok() != late.is_ok() {
            // Expiry fell between the clock reads: either answer is right.
            continue;
        }
        match (&library, &late) {
            (Ok(claims), Ok(accepted)) => assert_eq!(
                &as_accepted(claims),
                accepted,
                "claims differ for {token:?}"
            ),
            (Err(_), Err(_)) => {}
            (Ok(claims), Err(why)) => {
                panic!("library accepted, reference refused ({why}): {token:?} {claims:?}")
            }
            (Err(err), Ok(_)) => {
                panic!("reference accepted, library refused ({err}): {token:?}")
            }
        }
    }
});

fn as_accepted(c: &Claims) -> Accepted {
    let typ = serde_json::to_value(c.typ).unwrap();
    Accepted {
        sub: c.sub,
        typ: typ.as_str().unwrap().to_owned(),
        aud: c.aud.clone(),
        iat: c.iat,
        exp: c.exp,
        jti: c.jti,
        pv: c.pv,
        sid: c.sid,
        email: c.email.clone(),
    }
}

/// Builds and signs a token from header and payload bytes, bent by a twist.
fn signed(rest: &[u8]) -> Option<String> {
    let (&twist, rest) = rest.split_first()?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let split = usize::from(u16::from_le_bytes(*len)) % (rest.len() + 1);
    let (header, payload) = rest.split_at(split);
    let payload = with_time(payload);
    let mut h = URL_SAFE_NO_PAD.encode(header);
    let mut p = URL_SAFE_NO_PAD.encode(&payload);
    match twist % 8 {
        1 => h.push_str("=="),
        2 => p.push('='),
        3 => p = STANDARD_NO_PAD.encode(&payload),
        4 => bend_last(&mut p),
        5 => p.insert(p.len() / 2, if twist & 8 == 0 { ' ' } else { '\n' }),
        6 => h = format!(" {h}"),
        _ => {}
    }
    let input = format!("{h}.{p}");
    let key = &FIXTURE.reference.secret;
    let mut s = URL_SAFE_NO_PAD.encode(hmac_sha256::HMAC::mac(input.as_bytes(), key));
    match twist % 16 {
        7 => s.push('='),
        15 => bend_last(&mut s),
        _ => {}
    }
    Some(format!("{input}.{s}"))
}

/// Sets an unused low bit of the last character, where there is one: the
/// same bytes, encoded non-canonically.
fn bend_last(encoded: &mut String) {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if encoded.len() % 4 < 2 {
        return;
    }
    let Some(last) = encoded.pop() else { return };
    let value = ALPHABET.iter().position(|&c| c == last as u8).unwrap_or(0);
    encoded.push(char::from(ALPHABET[value | 1]));
}

/// Replaces `N0W`, `N0W+d` and `N0W-d` with the current unix time (± d).
fn with_time(payload: &[u8]) -> Vec<u8> {
    let now = now();
    let mut out = Vec::with_capacity(payload.len() + 16);
    let mut i = 0;
    while i < payload.len() {
        if payload[i..].starts_with(b"N0W") {
            i += 3;
            let mut t = now;
            if let [sign @ (b'+' | b'-'), d @ b'0'..=b'9', ..] = payload[i..] {
                let d = i64::from(d - b'0');
                t += if sign == b'+' { d } else { -d };
                i += 2;
            }
            out.extend_from_slice(t.to_string().as_bytes());
        } else {
            out.push(payload[i]);
            i += 1;
        }
    }
    out
}
