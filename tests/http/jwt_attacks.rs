//! A JWT attack suite against GET /users/me: every forged, confused or
//! malformed access token is a 401, never a 5xx. Where a case needs a valid
//! signature, it is made with the server's real secret, so only the attack
//! itself can be the reason for the refusal.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac_sha256::HMAC;
use serde_json::{Value, json};

use crate::common::{Client, SECRET, assert_problem, server};

fn b64(v: &Value) -> String {
    B64.encode(v.to_string())
}

/// Signs `header.payload` (raw strings) with HMAC-SHA256 under `secret`.
fn sign_raw(header: &str, payload: &str, secret: &[u8]) -> String {
    let h = B64.encode(header);
    let p = B64.encode(payload);
    let sig = B64.encode(HMAC::mac(format!("{h}.{p}").as_bytes(), secret));
    format!("{h}.{p}.{sig}")
}

fn sign(header: &Value, claims: &Value, secret: &[u8]) -> String {
    sign_raw(&header.to_string(), &claims.to_string(), secret)
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn forged_and_confused_access_tokens_are_all_401() {
    let s = server().await;
    let c = Client::new(s.addr);
    let (good, refresh) = c
        .signed_up("victim@example.com", "correct horse battery")
        .await;
    let claims = claims_of(&good);
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    // Sanity: the re-signed original is accepted, so each refusal below is
    // down to its one change.
    let resigned = sign(&hs256, &claims, SECRET);
    assert_eq!(c.get("/users/me", Some(&resigned)).await.status, 200);

    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    let header_with = |key: &str, value: Value| {
        let mut h = hs256.clone();
        h[key] = value;
        h
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let original_sig = good.rsplit('.').next().unwrap().to_owned();
    let (h, p) = (
        good.split('.').next().unwrap(),
        good.split('.').nth(1).unwrap(),
    );
    let none_header = b64(&json!({"alg": "none", "typ": "JWT"}));

    let cases: Vec<(&str, String)> = vec![
        ("alg none, no signature", format!("{none_header}.{p}.")),
        (
            "alg none, original signature",
            format!("{none_header}.{p}.{original_sig}"),
        ),
        (
            "alg None (case)",
            format!("{}.{p}.", b64(&json!({"alg": "None"}))),
        ),
        (
            "alg HS384",
            sign(&header_with("alg", json!("HS384")), &claims, SECRET),
        ),
        (
            "alg HS512",
            sign(&header_with("alg", json!("HS512")), &claims, SECRET),
        ),
        (
            "alg RS256 with an HMAC signature",
            sign(&header_with("alg", json!("RS256")), &claims, SECRET),
        ),
        (
            "kid header",
            sign(&header_with("kid", json!("../../keys/k1")), &claims, SECRET),
        ),
        (
            "jku header",
            sign(
                &header_with("jku", json!("https://evil.example/jwks")),
                &claims,
                SECRET,
            ),
        ),
        (
            "x5u header",
            sign(
                &header_with("x5u", json!("https://evil.example/cert")),
                &claims,
                SECRET,
            ),
        ),
        (
            "crit header",
            sign(&header_with("crit", json!(["exp"])), &claims, SECRET),
        ),
        (
            "nbf in the future",
            sign(&hs256, &with("nbf", json!(now + 3600)), SECRET),
        ),
        (
            "expired",
            sign(&hs256, &with("exp", json!(now - 1)), SECRET),
        ),
        ("no exp", {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove("exp");
            sign(&hs256, &c, SECRET)
        }),
        (
            "wrong aud",
            sign(&hs256, &with("aud", json!("another-app")), SECRET),
        ),
        (
            "wrong purpose: verify",
            sign(&hs256, &with("typ", json!("verify")), SECRET),
        ),
        (
            "wrong purpose: reset",
            sign(&hs256, &with("typ", json!("reset")), SECRET),
        ),
        (
            "unknown purpose",
            sign(&hs256, &with("typ", json!("admin")), SECRET),
        ),
        (
            "another user's id",
            sign(
                &hs256,
                &with("sub", json!("01936f6e-8d2a-7c3b-9e51-6a1f0c2d3e4f")),
                SECRET,
            ),
        ),
        (
            "unknown session",
            sign(
                &hs256,
                &with("sid", json!("01936f6e-8d2a-7c3b-9e51-6a1f0c2d3e4f")),
                SECRET,
            ),
        ),
        ("no session", {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove("sid");
            sign(&hs256, &c, SECRET)
        }),
        (
            "over 8 KiB",
            sign(&hs256, &with("pad", json!("x".repeat(9000))), SECRET),
        ),
        (
            "bad base64 in the header",
            format!("!!!.{p}.{original_sig}"),
        ),
        (
            "bad base64 in the payload",
            format!("{h}.%%%.{original_sig}"),
        ),
        ("bad base64 in the signature", format!("{h}.{p}.***")),
        ("duplicate keys in the payload", {
            let raw = claims.to_string();
            let dup = format!(
                "{},\"sub\":\"01936f6e-8d2a-7c3b-9e51-6a1f0c2d3e4f\"}}",
                &raw[..raw.len() - 1]
            );
            sign_raw(&hs256.to_string(), &dup, SECRET)
        }),
        (
            "duplicate alg in the header",
            sign_raw(
                r#"{"alg":"HS256","alg":"none"}"#,
                &claims.to_string(),
                SECRET,
            ),
        ),
        (
            "signed with another secret",
            sign(&hs256, &claims, b"another-secret-of-at-least-32-bytes!!"),
        ),
        (
            "payload edited under the original signature",
            format!(
                "{h}.{}.{original_sig}",
                b64(&with("exp", json!(now + 999_999)))
            ),
        ),
        ("two parts", format!("{h}.{p}")),
        ("four parts", format!("{good}.{original_sig}")),
        ("empty", String::new()),
        ("the refresh token", refresh.clone()),
        (
            "header is not JSON",
            format!("{}.{p}.{original_sig}", B64.encode("not json")),
        ),
        (
            "claims are an array",
            sign_raw(&hs256.to_string(), "[1,2,3]", SECRET),
        ),
    ];
    let mut failures = Vec::new();
    for (name, token) in &cases {
        let r = c.get("/users/me", Some(token)).await;
        if r.status != 401 || r.code() != "UNAUTHORIZED" {
            failures.push(format!("{name}: {} {:?}", r.status, r.json()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // And the genuine token still works.
    assert_problem(&c.get("/users/me", Some("x")).await, 401, "UNAUTHORIZED");
    assert_eq!(c.get("/users/me", Some(&good)).await.status, 200);
}
