//! An object-safe mirror of [`Store`], so `Users` is not generic over it.
//!
//! `Store` uses `impl Future` returns (easy to implement, not object safe).
//! The blanket impl below boxes each future once; next to a redb read that
//! is noise, and it keeps every public type free of a store parameter.

use std::future::Future;
use std::pin::Pin;

use time::OffsetDateTime;

use super::{
    LoginFailures, QueuedEmail, Rotation, Session, SessionId, Store, StoreError, TokenDigest,
    UserUpdate,
};
use crate::user::{Email, User, UserId};
use crate::username::Username;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Res<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

pub(crate) trait DynStore: Send + Sync + 'static {
    fn create_user<'a>(&'a self, user: &'a User, mail: Option<&'a QueuedEmail>) -> Res<'a, ()>;
    fn enqueue_mail<'a>(&'a self, mail: &'a QueuedEmail) -> Res<'a, ()>;
    fn claim_mail(
        &self,
        now: OffsetDateTime,
        limit: usize,
        lease: time::Duration,
    ) -> Res<'_, Vec<QueuedEmail>>;
    fn renew_claim<'a>(
        &'a self,
        mail: &'a QueuedEmail,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> Res<'a, bool>;
    fn reschedule_mail<'a>(&'a self, mail: &'a QueuedEmail) -> Res<'a, ()>;
    fn finish_mail<'a>(&'a self, mail: &'a QueuedEmail, dead: Option<&'a str>) -> Res<'a, ()>;
    fn pending_mail(&self) -> Res<'_, u64>;
    fn login_failures<'a>(
        &'a self,
        key: &'a str,
        forget_before: OffsetDateTime,
    ) -> Res<'a, Option<LoginFailures>>;
    fn record_login_failure<'a>(
        &'a self,
        key: &'a str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Res<'a, LoginFailures>;
    fn clear_login_failures<'a>(&'a self, key: &'a str) -> Res<'a, ()>;
    fn rate_limit<'a>(
        &'a self,
        key: &'a str,
        now: OffsetDateTime,
        burst: u32,
        per: time::Duration,
    ) -> Res<'a, Option<time::Duration>>;
    fn dead_letters(&self, limit: usize) -> Res<'_, Vec<QueuedEmail>>;
    fn user(&self, id: UserId) -> Res<'_, Option<User>>;
    fn user_by_email<'a>(&'a self, email: &'a Email) -> Res<'a, Option<User>>;
    fn user_by_username<'a>(&'a self, username: &'a Username) -> Res<'a, Option<User>>;
    fn update_user(&self, update: UserUpdate) -> Res<'_, ()>;
    fn delete_user(&self, id: UserId) -> Res<'_, bool>;
    fn list_users(&self, after: Option<UserId>, limit: usize) -> Res<'_, Vec<User>>;
    fn create_session<'a>(&'a self, session: &'a Session, refresh: TokenDigest) -> Res<'a, ()>;
    fn session_with_user(
        &self,
        id: SessionId,
        now: OffsetDateTime,
    ) -> Res<'_, Option<(Session, User)>>;
    fn rotate_refresh(
        &self,
        presented: TokenDigest,
        next: TokenDigest,
        now: OffsetDateTime,
    ) -> Res<'_, Rotation>;
    fn delete_session(&self, id: SessionId) -> Res<'_, ()>;
    fn reauthenticate_session(&self, id: SessionId, at: OffsetDateTime) -> Res<'_, bool>;
}

impl<S: Store> DynStore for S {
    fn create_user<'a>(&'a self, user: &'a User, mail: Option<&'a QueuedEmail>) -> Res<'a, ()> {
        Box::pin(Store::create_user(self, user, mail))
    }
    fn enqueue_mail<'a>(&'a self, mail: &'a QueuedEmail) -> Res<'a, ()> {
        Box::pin(Store::enqueue_mail(self, mail))
    }
    fn claim_mail(
        &self,
        now: OffsetDateTime,
        limit: usize,
        lease: time::Duration,
    ) -> Res<'_, Vec<QueuedEmail>> {
        Box::pin(Store::claim_mail(self, now, limit, lease))
    }
    fn renew_claim<'a>(
        &'a self,
        mail: &'a QueuedEmail,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> Res<'a, bool> {
        Box::pin(Store::renew_claim(self, mail, now, lease))
    }
    fn reschedule_mail<'a>(&'a self, mail: &'a QueuedEmail) -> Res<'a, ()> {
        Box::pin(Store::reschedule_mail(self, mail))
    }
    fn finish_mail<'a>(&'a self, mail: &'a QueuedEmail, dead: Option<&'a str>) -> Res<'a, ()> {
        Box::pin(Store::finish_mail(self, mail, dead))
    }
    fn pending_mail(&self) -> Res<'_, u64> {
        Box::pin(Store::pending_mail(self))
    }
    fn login_failures<'a>(
        &'a self,
        key: &'a str,
        forget_before: OffsetDateTime,
    ) -> Res<'a, Option<LoginFailures>> {
        Box::pin(Store::login_failures(self, key, forget_before))
    }
    fn record_login_failure<'a>(
        &'a self,
        key: &'a str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Res<'a, LoginFailures> {
        Box::pin(Store::record_login_failure(self, key, now, forget_before))
    }
    fn clear_login_failures<'a>(&'a self, key: &'a str) -> Res<'a, ()> {
        Box::pin(Store::clear_login_failures(self, key))
    }
    fn rate_limit<'a>(
        &'a self,
        key: &'a str,
        now: OffsetDateTime,
        burst: u32,
        per: time::Duration,
    ) -> Res<'a, Option<time::Duration>> {
        Box::pin(Store::rate_limit(self, key, now, burst, per))
    }
    fn dead_letters(&self, limit: usize) -> Res<'_, Vec<QueuedEmail>> {
        Box::pin(Store::dead_letters(self, limit))
    }
    fn user(&self, id: UserId) -> Res<'_, Option<User>> {
        Box::pin(Store::user(self, id))
    }
    fn user_by_email<'a>(&'a self, email: &'a Email) -> Res<'a, Option<User>> {
        Box::pin(Store::user_by_email(self, email))
    }
    fn user_by_username<'a>(&'a self, username: &'a Username) -> Res<'a, Option<User>> {
        Box::pin(Store::user_by_username(self, username))
    }
    fn update_user(&self, update: UserUpdate) -> Res<'_, ()> {
        Box::pin(Store::update_user(self, update))
    }
    fn delete_user(&self, id: UserId) -> Res<'_, bool> {
        Box::pin(Store::delete_user(self, id))
    }
    fn list_users(&self, after: Option<UserId>, limit: usize) -> Res<'_, Vec<User>> {
        Box::pin(Store::list_users(self, after, limit))
    }
    fn create_session<'a>(&'a self, session: &'a Session, refresh: TokenDigest) -> Res<'a, ()> {
        Box::pin(Store::create_session(self, session, refresh))
    }
    fn session_with_user(
        &self,
        id: SessionId,
        now: OffsetDateTime,
    ) -> Res<'_, Option<(Session, User)>> {
        Box::pin(Store::session_with_user(self, id, now))
    }
    fn rotate_refresh(
        &self,
        presented: TokenDigest,
        next: TokenDigest,
        now: OffsetDateTime,
    ) -> Res<'_, Rotation> {
        Box::pin(Store::rotate_refresh(self, presented, next, now))
    }
    fn delete_session(&self, id: SessionId) -> Res<'_, ()> {
        Box::pin(Store::delete_session(self, id))
    }
    fn reauthenticate_session(&self, id: SessionId, at: OffsetDateTime) -> Res<'_, bool> {
        Box::pin(Store::reauthenticate_session(self, id, at))
    }
}
