//! The OpenAPI document and the router agree: every documented operation is
//! routed, every route is documented, and undocumented methods get 405.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use serde_json::Value;
use tower_users::UsersService;
use tower_users::http::OPENAPI;

use crate::common::{Client, server, server_with};

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

/// The request schemas are written beside the decoders, not derived from
/// them (the endpoints decode field by field); this holds the two together.
/// Each JSON body sent empty is refused naming exactly the schema's required
/// fields, and sent with every documented field mistyped is refused naming
/// every one of them: a field the code requires but the document does not,
/// or one the document lists but the code never reads, fails here.
#[tokio::test]
async fn every_documented_request_body_is_the_one_the_endpoint_decodes() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    // The document describes the `username` fields that usernames add.
    let s = server_with(|b| b.with_usernames(tower_users::Usernames::Optional)).await;
    s.users
        .ensure_superuser("admin@example.com", "kettle staple zebra")
        .await
        .unwrap();
    let c = Client::new(s.addr);
    let token = c
        .access_token("admin@example.com", "kettle staple zebra")
        .await;
    let me = c.get("/users/me", Some(&token)).await.json();
    let id = me["id"].as_str().unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(reference) =
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            else {
                continue;
            };
            let name = reference.rsplit('/').next().unwrap();
            let schema = &doc["components"]["schemas"][name];
            // With alternatives (`oneOf` of required sets), an empty body
            // is refused naming the first one's fields too.
            let mut required = names(&schema["required"]);
            required.extend(names(&schema["oneOf"][0]["required"]));
            let properties: BTreeSet<String> = schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            let uri = path.replace("{token}", "abc.def.ghi").replace("{id}", id);
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();

            let empty = c
                .request(
                    method.clone(),
                    &uri,
                    Some(&token),
                    Some(serde_json::json!({})),
                )
                .await;
            if required.is_empty() {
                // `DELETE /me` by the only superuser gets past its body and
                // is then refused: the last superuser cannot delete itself.
                let last_superuser = method == Method::DELETE
                    && path == "/users/me"
                    && empty.json()["code"] == "FORBIDDEN";
                assert!(
                    empty.status.is_success() || last_superuser,
                    "{method} {path} {{}}: {}",
                    empty.status
                );
            } else {
                assert_eq!(
                    empty.status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{method} {path}"
                );
                assert_eq!(
                    fields(&empty.json()),
                    required,
                    "{method} {path}: required fields"
                );
            }

            let mistyped: serde_json::Map<String, Value> = properties
                .iter()
                .map(|p| (p.clone(), serde_json::json!([])))
                .collect();
            let r = c
                .request(
                    method.clone(),
                    &uri,
                    Some(&token),
                    Some(Value::Object(mistyped)),
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {path}"
            );
            assert_eq!(
                fields(&r.json()),
                properties,
                "{method} {path}: decoded fields"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12, "JSON request bodies checked");
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The fields a 422 problem document names.
fn fields(problem: &Value) -> BTreeSet<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// The reference page rendered as `tower_users::http::api`.
const API_PAGE: &str = include_str!("../../docs/API.md");

/// Every route and error code the page names is in the OpenAPI document,
/// and every one in the document is on the page, with the same status.
#[test]
fn the_reference_page_names_the_routes_and_codes_of_the_document() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    // Routes: every `METHOD /users…` in backticks, its query string dropped
    // (the example server's own `/healthz` and `/hello` are not the service's).
    let quoted: Vec<&str> = API_PAGE.split('`').skip(1).step_by(2).collect();
    let on_page: BTreeSet<String> = quoted
        .iter()
        .filter(|q| {
            ["GET", "POST", "PATCH", "DELETE", "PUT"]
                .iter()
                .any(|m| q.starts_with(&format!("{m} /users")))
        })
        .map(|q| q.split('?').next().unwrap().to_owned())
        .collect();
    assert_eq!(on_page, documented, "routes on docs/API.md vs the document");

    // Codes: the rows of the error table, `| `CODE` | status | when |`.
    let table: BTreeSet<(String, String)> = API_PAGE
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let status = cells.get(2)?;
            (code.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                && status.parse::<u16>().is_ok())
            .then(|| (code.to_owned(), (*status).to_owned()))
        })
        .collect();
    let codes: BTreeSet<String> =
        doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
    let table_codes: BTreeSet<String> = table.iter().map(|(c, _)| c.clone()).collect();
    assert_eq!(table_codes, codes, "codes on docs/API.md vs the document");

    // Where the document shows a code under a status, the page agrees.
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let description = response["description"].as_str().unwrap();
                for code in &codes {
                    if description.contains(&format!("({code})")) {
                        assert!(
                            table.contains(&(code.clone(), status.clone())),
                            "the document answers {code} with {status}; docs/API.md does not"
                        );
                    }
                }
            }
        }
    }
}

/// The login body's schema asks for what the endpoint needs: `login` alone
/// names the account as well as `email` does, so neither is required, one
/// of them is; and a mistyped `login` is refused for itself alone.
#[tokio::test]
async fn the_login_body_needs_email_or_login_and_a_bad_login_is_its_own_error() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let schema = &doc["components"]["schemas"]["LoginRequest"];
    assert_eq!(names(&schema["required"]), ["password".to_owned()].into());
    let alternatives: Vec<BTreeSet<String>> = schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alt| names(&alt["required"]))
        .collect();
    assert_eq!(
        alternatives,
        [["email".to_owned()].into(), ["login".to_owned()].into()]
    );

    let s = server().await;
    let c = Client::new(s.addr);
    let r = c
        .post_json(
            "/users/login",
            serde_json::json!({"login": 5, "password": "whatever"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&r.json()), ["login".to_owned()].into());
    let r = c
        .post_json(
            "/users/login",
            serde_json::json!({"login": "a@example.com", "password": "whatever"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// The record's schema requires exactly the fields every record carries
/// (a user without a username or custom fields has only those).
#[tokio::test]
async fn the_record_schema_requires_every_field_a_record_always_has() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let required = names(&doc["components"]["schemas"]["UserRecord"]["required"]);
    let s = server().await;
    let c = Client::new(s.addr);
    let (token, _) = c.signed_up("a@example.com", "correct horse battery").await;
    let me = c.get("/users/me", Some(&token)).await.json();
    let sent: BTreeSet<String> = me.as_object().unwrap().keys().cloned().collect();
    assert_eq!(sent, required);
}
