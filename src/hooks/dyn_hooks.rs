//! An object-safe mirror of [`Hooks`], so `Users` is not generic over it.
//!
//! `Hooks` returns `impl Future` so apps write plain `async fn`s (no macro,
//! readable docs), which makes it not object safe. As with the store's
//! `DynStore`, the blanket impl below boxes each hook's future once.

use super::Hooks;
use crate::error::Error;
use crate::mail::{BoxFuture, OutgoingEmail};
use crate::user::{Email, User};
use crate::users::ProfileFields;

pub(crate) trait DynHooks: Send + Sync + 'static {
    fn after_register<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()>;
    fn after_login<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()>;
    fn after_request_verify<'a>(&'a self, user: &'a User, token: &'a str) -> BoxFuture<'a, ()>;
    fn after_verify<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()>;
    fn after_forgot_password<'a>(&'a self, user: &'a User, token: &'a str) -> BoxFuture<'a, ()>;
    fn after_reset_password<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()>;
    fn validate_password<'a>(
        &'a self,
        password: &'a str,
        email: &'a Email,
    ) -> BoxFuture<'a, Result<(), String>>;
    fn validate_profile<'a>(
        &'a self,
        fields: &'a ProfileFields,
    ) -> BoxFuture<'a, Result<(), Error>>;
    fn after_update<'a>(&'a self, before: &'a User, after: &'a User) -> BoxFuture<'a, ()>;
    fn before_delete<'a>(&'a self, user: &'a User) -> BoxFuture<'a, Result<(), Error>>;
    fn after_delete<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()>;
    fn on_dead_letter<'a>(&'a self, email: &'a OutgoingEmail, error: &'a str) -> BoxFuture<'a, ()>;
}

impl<H: Hooks> DynHooks for H {
    fn after_register<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()> {
        Box::pin(Hooks::after_register(self, user))
    }
    fn after_login<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()> {
        Box::pin(Hooks::after_login(self, user))
    }
    fn after_request_verify<'a>(&'a self, user: &'a User, token: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(Hooks::after_request_verify(self, user, token))
    }
    fn after_verify<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()> {
        Box::pin(Hooks::after_verify(self, user))
    }
    fn after_forgot_password<'a>(&'a self, user: &'a User, token: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(Hooks::after_forgot_password(self, user, token))
    }
    fn after_reset_password<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()> {
        Box::pin(Hooks::after_reset_password(self, user))
    }
    fn validate_password<'a>(
        &'a self,
        password: &'a str,
        email: &'a Email,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(Hooks::validate_password(self, password, email))
    }
    fn validate_profile<'a>(
        &'a self,
        fields: &'a ProfileFields,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(Hooks::validate_profile(self, fields))
    }
    fn after_update<'a>(&'a self, before: &'a User, after: &'a User) -> BoxFuture<'a, ()> {
        Box::pin(Hooks::after_update(self, before, after))
    }
    fn before_delete<'a>(&'a self, user: &'a User) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(Hooks::before_delete(self, user))
    }
    fn after_delete<'a>(&'a self, user: &'a User) -> BoxFuture<'a, ()> {
        Box::pin(Hooks::after_delete(self, user))
    }
    fn on_dead_letter<'a>(&'a self, email: &'a OutgoingEmail, error: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(Hooks::on_dead_letter(self, email, error))
    }
}
