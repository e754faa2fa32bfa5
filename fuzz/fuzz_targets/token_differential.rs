//! Token decoding, differentially: every input is decoded by tower-users
//! (access tokens, and the verify and reset endpoints' `decode_any`) and by
//! an independent verifier written from RFC 7515/7519 (`reference/`). Any
//! disagreement on accept, or on the claims accepted, is a crash.
//!
//! Input: a mode byte, then
//! - mode % 4 == 0: a token string, as is (the Wycheproof seeds are these);
//! - mode % 4 == 3: a twist byte, then one byte per choice of each header
//!   parameter and claim from a menu of valid, edge, mistyped, null, absent
//!   and duplicated values (`token_inputs/structured.rs`);
//! - otherwise: a twist byte, a two-byte header length, the header JSON
//!   bytes, and the payload JSON bytes.
//!
//! The harness encodes and signs the last two kinds with the secret, so
//! most of them get past the signature and the header and claim rules are
//! what is compared (see `token_inputs/mod.rs` for the twists and the
//! `N0W` time placeholder).
#![no_main]

#[path = "reference/mod.rs"]
mod reference;
#[path = "token_inputs/mod.rs"]
mod token_inputs;

use std::sync::LazyLock;

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

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = &*FIXTURE;
    let token = match mode % 4 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        3 => token_inputs::structured(rest, &f.reference.secret),
        _ => match token_inputs::from_json(rest, &f.reference.secret) {
            Some(token) => token,
            None => return,
        },
    };
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
