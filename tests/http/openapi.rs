//! The OpenAPI document and the router agree: every documented operation is
//! routed, every route is documented, and undocumented methods get 405.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use serde_json::Value;
use tower_users::UsersService;
use tower_users::http::OPENAPI;

use crate::common::{Client, server};

fn documented() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let relative = path.strip_prefix("/users").unwrap().to_owned();
            ops.insert((method.to_uppercase(), relative));
        }
    }
    ops
}

fn concrete(template: &str) -> String {
    format!(
        "/users{}",
        template
            .replace("{token}", "abc.def.ghi")
            .replace("{id}", "01936f6e-8d2a-7c3b-9e51-6a1f0c2d3e4f")
    )
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_router_serves() {
    let routed: BTreeSet<(String, String)> = UsersService::routes()
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented(), routed);

    let s = server().await;
    let c = Client::new(s.addr);
    let paths: BTreeSet<String> = documented().into_iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in ["GET", "POST", "PATCH", "DELETE", "PUT"] {
            let is_documented = documented().contains(&(method.to_owned(), path.clone()));
            let r = c
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &concrete(&path),
                    None,
                    Some(serde_json::json!({})),
                )
                .await;
            assert!(!r.status.is_server_error(), "{method} {path}: {}", r.status);
            if is_documented {
                assert_ne!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is documented"
                );
                assert!(
                    r.status != StatusCode::NOT_FOUND || path == "/{id}",
                    "{method} {path} is documented but not routed"
                );
            } else {
                assert_eq!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is not documented"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_document_is_served_at_users_openapi_json() {
    let s = server().await;
    let r = Client::new(s.addr).get("/users/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type().starts_with("application/json"));
    assert_eq!(r.json(), serde_json::from_str::<Value>(OPENAPI).unwrap());
}
