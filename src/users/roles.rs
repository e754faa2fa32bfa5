//! Roles and permissions: which roles a user holds (stored with the user),
//! and which permissions each role grants (defined by the app in code, on
//! the builder).
//!
//! Permissions per role live in the app's code, not in the store:
//!
//! - a change to what a role may do goes through code review and a deploy,
//!   like the routes that check it, so the two cannot drift apart;
//! - there is no admin UI or route through which a stolen superuser
//!   session could widen a role: at most it can grant the roles the app
//!   defined, one user at a time, each grant in that user's record;
//! - every instance of one deploy has the same map, in memory, so a check
//!   costs no store read and gives the same answer everywhere.
//!
//! Which user holds which role is data, in the user record, changed by
//! superusers (`PUT`/`DELETE /users/{id}/roles/{role}`) as an ordinary
//! compare-and-swap update, and read from the store with the session on
//! every request, never carried in the access token: a grant or a revoke
//! holds from the user's next request.

use std::collections::{BTreeMap, BTreeSet};

use super::Users;
use crate::error::Error;
use crate::store::UserUpdate;
use crate::user::{User, UserId};

/// The longest role or permission name accepted.
pub const MAX_ROLE_NAME_LEN: usize = 64;

/// A permission the app declares once, as a type, so that a route that
/// requires it names the type and a typo is a compile error, not a route
/// nobody can reach.
///
/// Use it with the [`RequirePermission`](crate::http::RequirePermission)
/// extractor, and in [`UsersBuilder::with_role`](crate::UsersBuilder::with_role)
/// as `P::NAME`.
///
/// ```
/// use tower_users::Permission;
///
/// /// May publish and edit posts.
/// pub struct WritePosts;
///
/// impl Permission for WritePosts {
///     const NAME: &'static str = "posts:write";
/// }
/// ```
pub trait Permission: Send + Sync + 'static {
    /// The permission's name, as given to
    /// [`with_role`](crate::UsersBuilder::with_role).
    const NAME: &'static str;
}

/// A role the app declares once, as a type, for the
/// [`RequireRole`](crate::http::RequireRole) extractor. Prefer requiring a
/// [`Permission`]: a role names who someone is, a permission what a route
/// needs, and roles can then change without touching routes.
///
/// ```
/// use tower_users::Role;
///
/// pub struct Editor;
///
/// impl Role for Editor {
///     const NAME: &'static str = "editor";
/// }
/// ```
pub trait Role: Send + Sync + 'static {
    /// The role's name, as given to
    /// [`with_role`](crate::UsersBuilder::with_role).
    const NAME: &'static str;
}

/// The app's roles and the permissions each grants, checked at build time.
#[derive(Debug, Clone, Default)]
pub(crate) struct RoleMap(BTreeMap<String, BTreeSet<String>>);

/// Whether `name` is a usable role or permission name: 1 to
/// [`MAX_ROLE_NAME_LEN`] ASCII letters, digits, `_`, `-`, `.` or `:`, so
/// that it travels in a URL path segment unescaped and reads the same in
/// logs, JSON and SQL.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=MAX_ROLE_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
}

impl RoleMap {
    /// The map of `definitions`, or why one is refused: a malformed name,
    /// or a role defined twice (a second definition would silently replace
    /// the first).
    pub(crate) fn new(definitions: Vec<(String, Vec<String>)>) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for (role, permissions) in definitions {
            if !valid_name(&role) {
                return Err(format!(
                    "role {role:?}: use 1 to {MAX_ROLE_NAME_LEN} ASCII letters, digits, _ - . :"
                ));
            }
            if let Some(bad) = permissions.iter().find(|p| !valid_name(p)) {
                return Err(format!(
                    "permission {bad:?} of role {role:?}: use 1 to {MAX_ROLE_NAME_LEN} ASCII \
                     letters, digits, _ - . :"
                ));
            }
            if map
                .insert(role.clone(), permissions.into_iter().collect())
                .is_some()
            {
                return Err(format!("role {role:?} is defined twice"));
            }
        }
        Ok(RoleMap(map))
    }

    /// Whether the app defined `role`.
    pub(crate) fn defines(&self, role: &str) -> bool {
        self.0.contains_key(role)
    }

    /// Whether some defined role grants `permission`.
    pub(crate) fn knows_permission(&self, permission: &str) -> bool {
        self.0.values().any(|p| p.contains(permission))
    }

    /// Whether any of `roles` grants `permission`. A stored role the app no
    /// longer defines grants nothing.
    pub(crate) fn grants(&self, roles: &BTreeSet<String>, permission: &str) -> bool {
        roles
            .iter()
            .filter_map(|role| self.0.get(role))
            .any(|p| p.contains(permission))
    }
}

impl Users {
    /// Whether `user` holds a role that grants `permission` (roles as
    /// defined with [`with_role`](crate::UsersBuilder::with_role)).
    /// Superusers get no permission implicitly: grant them a role.
    pub fn has_permission(&self, user: &User, permission: &str) -> bool {
        self.inner.config.roles.grants(&user.roles, permission)
    }

    /// The role map, for the guards.
    pub(crate) fn role_map(&self) -> &std::sync::Arc<RoleMap> {
        &self.inner.config.roles
    }

    /// Grants `role` to user `id` on behalf of superuser `actor`, as one
    /// compare-and-swap update of the user record; it holds from the user's
    /// next request. A role the app did not define is a 422
    /// ([`Error::Validation`] on `role`); granting a role already held
    /// changes nothing.
    #[tracing::instrument(skip_all, fields(user.id = %id, role))]
    pub async fn grant_role(&self, actor: UserId, id: UserId, role: &str) -> Result<User, Error> {
        if !self.inner.config.roles.defines(role) {
            return Err(Error::field("role", "no such role is defined"));
        }
        self.change_roles(actor, id, role, true).await
    }

    /// Revokes `role` from user `id` on behalf of superuser `actor`; it
    /// holds from the user's next request. A role the app no longer defines
    /// can still be revoked where a user holds it; one that is neither
    /// defined nor held is a 422 (a typo, most likely). Revoking a role not
    /// held changes nothing.
    #[tracing::instrument(skip_all, fields(user.id = %id, role))]
    pub async fn revoke_role(&self, actor: UserId, id: UserId, role: &str) -> Result<User, Error> {
        self.change_roles(actor, id, role, false).await
    }

    async fn change_roles(
        &self,
        actor: UserId,
        id: UserId,
        role: &str,
        grant: bool,
    ) -> Result<User, Error> {
        // Already as asked: answer without a write (an fsync, and a
        // compare-and-swap a concurrent writer would have to retry).
        let current = self.get_user(id).await?;
        let unknown = !self.inner.config.roles.defines(role) && !current.roles.contains(role);
        if !unknown && current.roles.contains(role) == grant {
            return Ok(current);
        }
        let mut before = None;
        let after = self
            .change_user(id, Error::NotFound, |user| {
                if !self.inner.config.roles.defines(role) && !user.roles.contains(role) {
                    return Err(Error::field("role", "no such role is defined"));
                }
                let mut next = user.clone();
                let changed = if grant {
                    next.roles.insert(role.to_owned())
                } else {
                    next.roles.remove(role)
                };
                before = changed.then(|| user.clone());
                Ok(UserUpdate::new(user, next))
            })
            .await?;
        if let Some(before) = &before {
            self.inner.hooks.after_update(before, &after).await;
            tracing::info!(actor = %actor, granted = grant, "role changed by an administrator");
        }
        Ok(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(defs: &[(&str, &[&str])]) -> Result<RoleMap, String> {
        RoleMap::new(
            defs.iter()
                .map(|(r, ps)| (r.to_string(), ps.iter().map(|p| p.to_string()).collect()))
                .collect(),
        )
    }

    #[test]
    fn a_role_grants_only_its_own_permissions_and_unknown_roles_grant_none() {
        let roles = map(&[("editor", &["posts:write"]), ("viewer", &["posts:read"])]).unwrap();
        let held = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        assert!(roles.grants(&held(&["editor"]), "posts:write"));
        assert!(!roles.grants(&held(&["viewer"]), "posts:write"));
        assert!(!roles.grants(&held(&["retired"]), "posts:write"));
        assert!(!roles.grants(&held(&[]), "posts:read"));
        assert!(roles.knows_permission("posts:read"));
        assert!(!roles.knows_permission("posts:delete"));
    }

    #[test]
    fn malformed_or_twice_defined_roles_are_refused() {
        assert!(map(&[("editor", &[]), ("editor", &["x"])]).is_err());
        for bad in ["", "has space", "ünïcode", "a/b", &"r".repeat(65)] {
            assert!(map(&[(bad, &[])]).is_err(), "{bad:?}");
            assert!(map(&[("ok", &[bad])]).is_err(), "{bad:?}");
        }
        assert!(map(&[("posts.editor-2_x:y", &["posts:write"])]).is_ok());
    }
}
