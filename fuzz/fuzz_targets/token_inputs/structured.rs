//! Header and claims JSON built from a menu, one input byte per choice, so
//! that nearly every input is well-formed JSON and the claim rules are what
//! decides. Each member is picked from valid values, edge values, wrong
//! types, null, absence and duplication.

/// Reads choices from the fuzzer's bytes; zeros once they run out.
struct Choices<'a>(std::slice::Iter<'a, u8>);

impl Choices<'_> {
    fn pick<'m>(&mut self, menu: &[&'m str]) -> &'m str {
        let byte = self.0.next().copied().unwrap_or(0);
        menu[usize::from(byte) % menu.len()]
    }
}

/// `""` leaves the member out; `"DUP:v"` writes it twice, the second time
/// as `v`.
const ALG: &[&str] = &[
    r#""HS256""#,
    r#""hs256""#,
    r#""none""#,
    r#""HS384""#,
    "null",
    "1",
    "",
    r#"DUP:"HS256""#,
];
const HEADER_TYP: &[&str] = &[r#""JWT""#, "", "null", "5", r#""at+jwt""#, r#"DUP:"JWT""#];
const EXTRA_HEADER: &[(&str, &[&str])] = &[
    ("kid", &["", "null", r#""k""#, "1"]),
    ("jwk", &["", "null", "{}"]),
    ("crit", &["", "null", "[]", r#"["exp"]"#]),
    ("x5t", &["", "null", r#""abc""#, "[]"]),
    ("enc", &["", "null", r#""A128GCM""#, "2"]),
    ("zip", &["", r#""DEF""#, "true"]),
    ("cty", &["", r#""JWT""#, "{}"]),
    ("custom", &["", "1e400", r#""\ud800""#, "[1,2]", "DUP:3"]),
];

const UUIDS: &[&str] = &[
    r#""0193b4a0-0000-7000-8000-000000000001""#,
    r#""0193b4a000007000800000000000000a""#,
    r#""urn:uuid:0193b4a0-0000-7000-8000-000000000002""#,
    r#""{0193b4a0-0000-7000-8000-000000000003}""#,
    r#""0193B4A0-0000-7000-8000-00000000000B""#,
    r#""not-a-uuid""#,
    "",
    "null",
    "7",
    r#"DUP:"0193b4a0-0000-7000-8000-000000000004""#,
];
const PURPOSE: &[&str] = &[
    r#""access""#,
    r#""verify""#,
    r#""reset""#,
    r#""email_change""#,
    r#""Access""#,
    r#""emailChange""#,
    r#"{"access":null}"#,
    r#"["access"]"#,
    "",
    "null",
    r#"DUP:"access""#,
];
const AUDIENCE: &[&str] = &[
    r#""tower-users""#,
    r#""tower\u002dusers""#,
    r#"["tower-users"]"#,
    r#""other""#,
    "",
    "null",
    r#"DUP:"tower-users""#,
];
/// `N0W` is the current time (see `with_time`).
const EXP: &[&str] = &[
    "N0W+9",
    "N0W",
    "N0W-1",
    "N0W+1",
    "N0W+9.0",
    r#""N0W+9""#,
    "-1",
    "9223372036854775807",
    "18446744073709551615",
    "1e3",
    "",
    "null",
    "DUP:N0W+9",
];
const IAT: &[&str] = &["N0W", "0", "-5", "1.5", r#""N0W""#, "", "null", "DUP:N0W"];
const NBF: &[&str] = &[
    "", "N0W", "N0W+5", "N0W-5", "N0W.4", "N0W.6", "-1", "null", r#""0""#,
];
const PV: &[&str] = &["", "0", "7", "-1", "1.0", "null", r#""7""#, "DUP:7"];
const EMAIL: &[&str] = &["", r#""a@example.com""#, "null", "1", r#"["a"]"#];
const ISS: &[&str] = &["", r#""me""#, "1", "null", "DUP:2"];
const UNKNOWN: &[&str] = &["", "1e400", r#""\ud800""#, r#"{"a":[{}]}"#, "DUP:1"];

/// One `"name":value` member (twice for `DUP:`), or nothing.
fn member(out: &mut Vec<String>, name: &str, value: &str) {
    match value.strip_prefix("DUP:") {
        Some(second) => {
            out.push(format!(r#""{name}":{second}"#));
            out.push(format!(r#""{name}":{second}"#));
        }
        None if value.is_empty() => {}
        None => out.push(format!(r#""{name}":{value}"#)),
    }
}

/// The header and claims JSON chosen by `bytes`.
pub fn build(bytes: &[u8]) -> (String, String) {
    let mut c = Choices(bytes.iter());
    let mut header = Vec::new();
    member(&mut header, "alg", c.pick(ALG));
    member(&mut header, "typ", c.pick(HEADER_TYP));
    // One extra header parameter, so most headers stay plausible.
    let (name, menu) =
        EXTRA_HEADER[usize::from(c.0.next().copied().unwrap_or(0)) % EXTRA_HEADER.len()];
    member(&mut header, name, c.pick(menu));

    let mut claims = Vec::new();
    member(&mut claims, "sub", c.pick(UUIDS));
    member(&mut claims, "typ", c.pick(PURPOSE));
    member(&mut claims, "aud", c.pick(AUDIENCE));
    member(&mut claims, "iat", c.pick(IAT));
    member(&mut claims, "exp", c.pick(EXP));
    member(&mut claims, "jti", c.pick(UUIDS));
    member(&mut claims, "pv", c.pick(PV));
    member(&mut claims, "sid", c.pick(&UUIDS[..]));
    member(&mut claims, "email", c.pick(EMAIL));
    member(&mut claims, "nbf", c.pick(NBF));
    member(&mut claims, "iss", c.pick(ISS));
    member(&mut claims, "x", c.pick(UNKNOWN));
    // Member order must not matter: rotate by a chosen amount.
    if !claims.is_empty() {
        let turn = usize::from(c.0.next().copied().unwrap_or(0)) % claims.len();
        claims.rotate_left(turn);
    }
    (
        format!("{{{}}}", header.join(",")),
        format!("{{{}}}", claims.join(",")),
    )
}
