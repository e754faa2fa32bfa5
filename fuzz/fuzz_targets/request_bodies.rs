//! Request decoding for every endpoint: whatever the method, path, media
//! type and body, `UsersService` answers without panicking and never with a
//! 5xx. The first input byte picks the route and media type; the rest is
//! the body.
#![no_main]

use std::sync::LazyLock;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;
use tower_users::{PasswordParams, RedbStore, Users, UsersService};

struct Fixture {
    rt: tokio::runtime::Runtime,
    service: UsersService,
    bearer: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (service, bearer) = rt.block_on(async {
        let users = Users::builder(RedbStore::in_memory().unwrap())
            .with_secret(b"fuzzing-secret-fuzzing-secret-0123456789")
            // Cheap hashing: the target is decoding, not argon2.
            .with_password_params(PasswordParams { m_cost: 8, t_cost: 1, p_cost: 1 })
            .with_verify_on_register(false)
            .build()
            .unwrap();
        users.register("fuzz@example.com", "correct horse battery").await.unwrap();
        let pair = users.login("fuzz@example.com", "correct horse battery").await.unwrap();
        (UsersService::new(users), format!("Bearer {}", pair.access_token))
    });
    Fixture { rt, service, bearer }
});

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/users/register"),
    ("POST", "/users/login"),
    ("POST", "/users/refresh"),
    ("POST", "/users/logout"),
    ("POST", "/users/verify/request"),
    ("POST", "/users/verify"),
    ("POST", "/users/verify/abc.def.ghi"),
    ("POST", "/users/password-reset/request"),
    ("POST", "/users/password-reset"),
    ("POST", "/users/password-reset/abc.def.ghi"),
    ("GET", "/users/me"),
    ("PATCH", "/users/me"),
    ("DELETE", "/users/me"),
    ("GET", "/users?limit=2"),
    ("GET", "/users/01936f6e-8d2a-7c3b-9e51-6a1f0c2d3e4f"),
    ("PATCH", "/users/01936f6e-8d2a-7c3b-9e51-6a1f0c2d3e4f"),
];

const MEDIA: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "text/plain",
];

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (method, path) = ROUTES[usize::from(pick) % ROUTES.len()];
    let media = MEDIA[usize::from(pick / 16) % MEDIA.len()];
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", media);
    // Authenticated half the time, so the routes behind a token decode too;
    // never for DELETE /users/me, which could end the fixture's account.
    if pick & 0x80 != 0 && method != "DELETE" {
        req = req.header("authorization", &f.bearer);
    }
    let req = req.body(Full::<Bytes>::from(body.to_vec())).unwrap();
    let res = f.rt.block_on(f.service.clone().oneshot(req)).unwrap();
    assert!(
        !res.status().is_server_error(),
        "{method} {path} ({media}) answered {}",
        res.status()
    );
});
