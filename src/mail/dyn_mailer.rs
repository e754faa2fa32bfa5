//! An object-safe mirror of [`Mailer`], so `Users` is not generic over it.
//!
//! `Mailer` returns `impl Future` so apps write a plain `async fn`, which
//! makes it not object safe. As with `DynHooks` and `DynStore`, the blanket
//! impl below boxes each send's future once.

use super::{BoxFuture, MailError, Mailer, OutgoingEmail};

pub(crate) trait DynMailer: Send + Sync + 'static {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), MailError>>;
}

impl<M: Mailer> DynMailer for M {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(Mailer::send(self, email))
    }
}
