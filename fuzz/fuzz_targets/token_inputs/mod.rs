//! Turning fuzzer bytes into signed tokens.

mod structured;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// A token from a twist byte, a two-byte header length, header bytes and
/// payload bytes.
pub fn from_json(rest: &[u8], key: &[u8]) -> Option<String> {
    let (&twist, rest) = rest.split_first()?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let split = usize::from(u16::from_le_bytes(*len)) % (rest.len() + 1);
    let (header, payload) = rest.split_at(split);
    Some(signed(twist, header, payload, key))
}

/// A token from a twist byte and menu choices (see `structured.rs`).
pub fn structured(rest: &[u8], key: &[u8]) -> String {
    // Mostly canonical: the encoding is bent only with the high bit set.
    let (twist, choices) = rest.split_first().map_or((0, rest), |(t, c)| (*t, c));
    let twist = if twist & 0x80 == 0 { 0 } else { twist };
    let (header, payload) = structured::build(choices);
    signed(twist, header.as_bytes(), payload.as_bytes(), key)
}

/// Encodes and signs `header` and `payload`, bent by `twist`: padding,
/// another alphabet, stray bytes or non-canonical bits. The MAC is taken
/// over the bent text, so only base64url strictness can refuse it.
fn signed(twist: u8, header: &[u8], payload: &[u8], key: &[u8]) -> String {
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
    let mut s = URL_SAFE_NO_PAD.encode(hmac_sha256::HMAC::mac(input.as_bytes(), key));
    match twist % 16 {
        7 => s.push('='),
        15 => bend_last(&mut s),
        _ => {}
    }
    format!("{input}.{s}")
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

/// Replaces `N0W`, `N0W+d` and `N0W-d` with the current unix time (± d),
/// so expiry edges can be reached from static seeds.
fn with_time(payload: &[u8]) -> Vec<u8> {
    let now = crate::now();
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
