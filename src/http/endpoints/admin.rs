use http::request::Parts;
use http::{Method, StatusCode};
use serde::Serialize;

use super::endpoint;
use crate::error::Error;
use crate::http::CurrentUser;
use crate::http::body::{RequestBody, json_fields};
use crate::http::problem::{empty, private_json};
use crate::user::{UserId, UserRecord};
use crate::{AdminChange, Users};

/// The user id taken from the request path (`/users/{id}`), set by
/// [`UsersService`](crate::UsersService) before it calls [`AdminUser`].
#[derive(Debug, Clone, Copy)]
pub struct PathUserId(pub UserId);

endpoint! {
    /// `GET /?limit=&cursor=` (superuser): a page of user records,
    /// `{"users": [...], "next_cursor": ...}`.
    ListUsers => list_users
}

endpoint! {
    /// `/{id}` (superuser; see [`PathUserId`]): `GET` a user's record,
    /// `PATCH` any of `is_active`, `is_verified`, `is_superuser`, `email`,
    /// `password` (403 for deactivating or demoting oneself), or `DELETE` it
    /// (204; 403 on one's own id). `PATCH` and `DELETE` need the superuser's
    /// session to have proved the password within the re-authentication
    /// window (else 403 `REAUTHENTICATION_REQUIRED`).
    AdminUser => admin_user
}

/// The role name taken from the request path (`/users/{id}/roles/{role}`,
/// percent-decoded), set by [`UsersService`](crate::UsersService) with a
/// [`PathUserId`] before it calls [`AdminUserRole`].
#[derive(Debug, Clone)]
pub struct PathRole(pub String);

endpoint! {
    /// `/{id}/roles/{role}` (superuser; see [`PathUserId`] and
    /// [`PathRole`]): `PUT` grants the role, `DELETE` revokes it; both
    /// answer the user's record (200), and do nothing more if the user
    /// already holds the role, or does not. A role the app did not define
    /// is a 422 (revoking one the user still holds is allowed). The change
    /// holds from the user's next request. Both need the superuser's session
    /// to have proved the password within the re-authentication window
    /// (else 403 `REAUTHENTICATION_REQUIRED`).
    AdminUserRole => admin_user_role
}

/// The default page size of `GET /users`.
const DEFAULT_PAGE: usize = 50;

async fn superuser(parts: &Parts, users: &Users) -> Result<CurrentUser, Error> {
    let caller = CurrentUser::checked(parts, users).await?;
    if !caller.is_superuser {
        return Err(Error::Forbidden);
    }
    Ok(caller)
}

#[derive(Serialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = UserPage))]
pub(crate) struct Page {
    users: Vec<UserRecord>,
    #[cfg_attr(test, schema(required = true))]
    next_cursor: Option<String>,
}

async fn list_users<B>(
    users: Users,
    parts: Parts,
    _body: B,
) -> Result<axum_core::response::Response, Error> {
    superuser(&parts, &users).await?;
    let query: Vec<(String, String)> = serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
        .map_err(|_| Error::field("query", "malformed query string"))?;
    let mut limit = DEFAULT_PAGE;
    let mut cursor = None;
    for (key, value) in query {
        match key.as_str() {
            "limit" => {
                limit = value
                    .parse()
                    .map_err(|_| Error::field("limit", "limit must be a whole number"))?;
            }
            "cursor" if !value.is_empty() => cursor = Some(value),
            _ => {}
        }
    }
    let page = users.list_users(limit, cursor.as_deref()).await?;
    Ok(private_json(
        StatusCode::OK,
        &Page {
            users: page.users.iter().map(|u| u.record()).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

async fn admin_user<B: RequestBody>(
    users: Users,
    parts: Parts,
    body: B,
) -> Result<axum_core::response::Response, Error> {
    let caller = superuser(&parts, &users).await?;
    if parts.method != Method::GET {
        caller.require_recent_authentication(&users)?;
    }
    let PathUserId(id) = *parts
        .extensions
        .get::<PathUserId>()
        .ok_or(Error::NotFound)?;
    match parts.method {
        Method::PATCH => {
            let mut fields = json_fields(&parts, body).await?;
            let change = AdminChange {
                is_active: fields.optional_bool("is_active"),
                is_verified: fields.optional_bool("is_verified"),
                is_superuser: fields.optional_bool("is_superuser"),
                email: fields.optional_string("email"),
                password: fields.optional_string("password"),
                // With usernames off the field is ignored, as any unknown one.
                username: if users.usernames().enabled() {
                    fields.nullable_string("username")
                } else {
                    None
                },
            };
            fields.finish()?;
            let user = users.admin_update(caller.id, id, change).await?;
            Ok(private_json(StatusCode::OK, &user.record()))
        }
        Method::DELETE => {
            users.admin_delete(caller.id, id).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        _ => Ok(private_json(
            StatusCode::OK,
            &users.get_user(id).await?.record(),
        )),
    }
}

async fn admin_user_role<B>(
    users: Users,
    parts: Parts,
    _body: B,
) -> Result<axum_core::response::Response, Error> {
    let caller = superuser(&parts, &users).await?;
    caller.require_recent_authentication(&users)?;
    let (Some(PathUserId(id)), Some(PathRole(role))) = (
        parts.extensions.get::<PathUserId>(),
        parts.extensions.get::<PathRole>(),
    ) else {
        return Err(Error::NotFound);
    };
    let user = if parts.method == Method::DELETE {
        users.revoke_role(caller.id, *id, role).await?
    } else {
        users.grant_role(caller.id, *id, role).await?
    };
    Ok(private_json(StatusCode::OK, &user.record()))
}
