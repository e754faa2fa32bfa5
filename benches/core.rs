//! criterion benches of the hot paths, in-process:
//!
//! - access-token encode and decode, first sight and cached (target:
//!   decode under 3 µs);
//! - `CurrentUser` extraction, alone and through the full tower stack
//!   (`UsersService`, GET /users/me) with its redb lookups on a file
//!   (target: under 10 µs);
//! - register and login end to end through `UsersService` (argon2 bound).
//!
//! ```text
//! cargo bench --bench core
//! ```

#![allow(missing_docs)] // criterion_group! generates a public fn
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::Full;
use tower::ServiceExt;
use tower_users::token::{Purpose, Tokens};
use tower_users::{CurrentUser, Email, RedbStore, User, Users, UsersService};

fn tokens(c: &mut Criterion) {
    let tokens = Tokens::new(&[7u8; 32], "tower-users").unwrap();
    let user = User::new(Email::parse("bench@example.com").unwrap(), String::new());
    let session = Some(tower_users::store::SessionId::new());
    let ttl = time::Duration::minutes(15);
    c.bench_function("token/encode access", |b| {
        b.iter(|| {
            tokens
                .issue(Purpose::Access, black_box(&user), ttl, session)
                .unwrap()
        })
    });
    let (jwt, _) = tokens.issue(Purpose::Access, &user, ttl, session).unwrap();
    c.bench_function("token/decode access (seen before: cache hit)", |b| {
        b.iter(|| tokens.decode(black_box(&jwt), Purpose::Access).unwrap())
    });
    // Ten thousand distinct tokens cycle through the 2,048-slot cache, so
    // (nearly) every decode is a full verification.
    let many: Vec<String> = (0..10_000)
        .map(|_| {
            tokens
                .issue(Purpose::Access, &user, ttl, session)
                .unwrap()
                .0
        })
        .collect();
    let mut i = 0;
    c.bench_function(
        "token/decode access (first sight: full verification)",
        |b| {
            b.iter(|| {
                i = (i + 1) % many.len();
                tokens.decode(black_box(&many[i]), Purpose::Access).unwrap()
            })
        },
    );
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    users: Users,
    service: UsersService,
    access: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (users, access) = rt.block_on(async {
        let users = Users::builder(RedbStore::open(dir.path().join("bench.redb")).unwrap())
            .with_secret([7u8; 32])
            .with_verify_on_register(false)
            .build()
            .unwrap();
        users
            .register("bench@example.com", "correct horse battery")
            .await
            .unwrap();
        let pair = users
            .login("bench@example.com", "correct horse battery")
            .await
            .unwrap();
        (users, pair.access_token)
    });
    let service = UsersService::new(users.clone());
    Fixture {
        rt,
        users,
        service,
        access,
        _dir: dir,
    }
}

fn current_user(c: &mut Criterion) {
    let f = fixture();
    let req = || {
        Request::get("/users/me")
            .header("authorization", format!("Bearer {}", f.access))
            .body(Full::<Bytes>::default())
            .unwrap()
    };
    let (parts, _) = req().into_parts();
    c.bench_function("current_user/from_parts (token + redb lookups)", |b| {
        b.iter(|| {
            f.rt.block_on(CurrentUser::from_parts(black_box(&parts), &f.users))
                .unwrap()
        })
    });
    c.bench_function("current_user/GET /users/me through UsersService", |b| {
        b.iter(|| {
            let res = f.rt.block_on(f.service.clone().oneshot(req())).unwrap();
            assert_eq!(res.status(), 200);
        })
    });
}

fn end_to_end(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("end_to_end");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let post = |path: &str, body: String| {
        Request::post(path)
            .header("content-type", "application/json")
            .body(Full::<Bytes>::from(body))
            .unwrap()
    };
    let mut n = 0u64;
    group.bench_function("POST /users/register", |b| {
        b.iter(|| {
            n += 1;
            let body =
                format!(r#"{{"email":"r{n}@example.com","password":"correct horse battery"}}"#);
            let res =
                f.rt.block_on(f.service.clone().oneshot(post("/users/register", body)))
                    .unwrap();
            assert_eq!(res.status(), 201);
        })
    });
    group.bench_function("POST /users/login", |b| {
        b.iter(|| {
            let body =
                r#"{"email":"bench@example.com","password":"correct horse battery"}"#.to_owned();
            let res =
                f.rt.block_on(f.service.clone().oneshot(post("/users/login", body)))
                    .unwrap();
            assert_eq!(res.status(), 200);
        })
    });
    group.finish();
}

criterion_group!(benches, tokens, current_user, end_to_end);
criterion_main!(benches);
