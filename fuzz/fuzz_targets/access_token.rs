//! Access-token decoding, differentially: a fuzzed token is accepted if and
//! only if it is byte-identical to a token the signer issued. The input is
//! an edit of a genuine token (so the fuzzer works near valid tokens), or,
//! with a leading 0, a token of its own.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tower_users::store::SessionId;
use tower_users::token::{Purpose, Tokens};
use tower_users::{Email, User};

struct Fixture {
    tokens: Tokens,
    /// The genuine access token.
    access: String,
    /// Genuine tokens of other purposes: never valid as access tokens.
    others: Vec<String>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let tokens = Tokens::new(b"fuzzing-secret-fuzzing-secret-0123456789", "tower-users").unwrap();
    let user = User::new(Email::parse("fuzz@example.com").unwrap(), String::new());
    let day = time::Duration::days(1);
    let issue = |p| tokens.issue(p, &user, day, Some(SessionId::new())).unwrap().0;
    let access = issue(Purpose::Access);
    let others = vec![issue(Purpose::Verify), issue(Purpose::Reset)];
    Fixture { tokens, access, others }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let base = match mode % 3 {
        0 => Vec::new(),
        1 => f.access.clone().into_bytes(),
        _ => f.others[usize::from(mode / 3) % f.others.len()].clone().into_bytes(),
    };
    let candidate = if base.is_empty() {
        rest.to_vec()
    } else {
        // Pairs of (position, byte) overwrite the base; a trailing odd byte
        // truncates it there.
        let mut token = base;
        let mut chunks = rest.chunks_exact(2);
        for pair in &mut chunks {
            let at = usize::from(pair[0]) * 2 % token.len().max(1);
            if let Some(b) = token.get_mut(at) {
                *b = pair[1];
            }
        }
        if let [cut] = chunks.remainder() {
            token.truncate(usize::from(*cut) * 2);
        }
        token
    };
    let text = String::from_utf8_lossy(&candidate);
    let accepted = f.tokens.decode(&text, Purpose::Access).is_ok();
    assert_eq!(
        accepted,
        text.as_bytes() == f.access.as_bytes(),
        "accepted a token the signer did not issue: {text:?}"
    );
});
