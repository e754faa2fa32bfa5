//! One conformance suite for every [`Store`](super::Store) implementation.
//!
//! An out-of-crate store enables the `test-util` feature and writes
//! `tower_users::store_conformance!(my_store, || make_store());` in a test
//! module; each rule the lifecycle relies on becomes a `#[tokio::test]`.
//! Its only other dependency is `tokio` (features `macros` and
//! `rt-multi-thread`); `tests/outside-store` in the repository is such a
//! crate, built and tested by CI.

/// Generates the store conformance tests in a module named `$name`.
///
/// `$make` is an expression that evaluates to a closure returning a fresh,
/// empty store that is also `Clone` (clones share one store: the
/// concurrency cases hand a clone to each task, as an app hands one to
/// each `Users`). The tests need a `tokio` dev-dependency with `macros`
/// and `rt-multi-thread`; nothing else.
#[cfg(any(test, feature = "test-util"))]
#[macro_export]
macro_rules! store_conformance {
    ($name:ident, $make:expr) => {
        mod $name {
            #![allow(clippy::unwrap_used)]
            use $crate::mail::{EmailKind, OutgoingEmail};
            use $crate::store::{
                QueuedEmail, Rotation, Session, SessionId, SpentToken, Store, StoreError,
                TokenDigest, UserUpdate,
            };
            use $crate::{Email, User};

            fn mail(to: &str) -> QueuedEmail {
                QueuedEmail::new(OutgoingEmail::new(
                    $crate::__private::uuid::Uuid::now_v7(),
                    EmailKind::Verify,
                    to,
                    "subject",
                    "text http://x/#token=t",
                    "<p>html</p>",
                    "http://x/#token=t",
                    // Stores keep whole seconds.
                    $crate::__private::time::OffsetDateTime::now_utc()
                        .replace_nanosecond(0)
                        .unwrap()
                        + $crate::__private::time::Duration::hours(1),
                ))
            }

            fn now_utc() -> $crate::__private::time::OffsetDateTime {
                $crate::__private::time::OffsetDateTime::now_utc()
            }

            fn store() -> impl Store + Clone {
                ($make)()
            }

            fn user(email: &str) -> User {
                User::new(Email::parse(email).unwrap(), "$argon2id$x".into())
            }

            fn session(user: &User, ttl_secs: i64) -> Session {
                // Stores keep whole seconds.
                let now = $crate::__private::time::OffsetDateTime::now_utc()
                    .replace_nanosecond(0)
                    .unwrap();
                Session {
                    id: SessionId::new(),
                    user_id: user.id,
                    password_version: user.password_version,
                    created_at: now,
                    expires_at: now + $crate::__private::time::Duration::seconds(ttl_secs),
                    // Apart from `created_at`, so that a store that
                    // confuses the two fails the round trips.
                    authenticated_at: now - $crate::__private::time::Duration::seconds(90),
                }
            }

            fn digest(byte: u8) -> TokenDigest {
                TokenDigest([byte; 32])
            }

            #[::tokio::test]
            async fn created_user_is_found_by_id_and_email() {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                assert_eq!(s.user(u.id).await.unwrap().unwrap(), u);
                assert_eq!(s.user_by_email(&u.email).await.unwrap().unwrap(), u);
                let other = Email::parse("b@example.com").unwrap();
                assert!(s.user_by_email(&other).await.unwrap().is_none());
            }

            #[::tokio::test]
            async fn create_refuses_a_taken_email() {
                let s = store();
                s.create_user(&user("a@example.com"), None).await.unwrap();
                let err = s
                    .create_user(&user("a@example.com"), None)
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::EmailTaken), "{err:?}");
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_creates_of_one_email_admit_exactly_one() {
                let s = store();
                let tasks: Vec<_> = (0..20)
                    .map(|_| {
                        let s = s.clone();
                        ::tokio::spawn(async move {
                            s.create_user(&user("race@example.com"), None).await
                        })
                    })
                    .collect();
                let mut ok = 0;
                for t in tasks {
                    match t.await.unwrap() {
                        Ok(()) => ok += 1,
                        Err(StoreError::EmailTaken) => {}
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                assert_eq!(ok, 1);
            }

            #[::tokio::test]
            async fn update_is_a_compare_and_swap_on_password_version() {
                let s = store();
                let original = user("a@example.com");
                s.create_user(&original, None).await.unwrap();
                let mut u = original.clone();
                u.password_version = 1;
                s.update_user(UserUpdate::new(&original, u.clone()))
                    .await
                    .unwrap();
                // A second writer that read the original must lose, even
                // for a field the first one did not touch.
                let mut stale = original.clone();
                stale.is_active = false;
                let err = s
                    .update_user(UserUpdate::new(&original, stale))
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::Conflict), "{err:?}");
                assert_eq!(s.user(u.id).await.unwrap().unwrap().password_version, 1);
            }

            #[::tokio::test]
            async fn update_to_a_taken_email_is_refused_and_changes_nothing() {
                let s = store();
                let a = user("a@example.com");
                let b = user("b@example.com");
                s.create_user(&a, None).await.unwrap();
                s.create_user(&b, None).await.unwrap();
                let mut moved = b.clone();
                moved.email = a.email.clone();
                let err = s.update_user(UserUpdate::new(&b, moved)).await.unwrap_err();
                assert!(matches!(err, StoreError::EmailTaken), "{err:?}");
                assert_eq!(s.user(b.id).await.unwrap().unwrap().email, b.email);
            }

            #[::tokio::test]
            async fn email_change_moves_the_index() {
                let s = store();
                let before = user("a@example.com");
                s.create_user(&before, None).await.unwrap();
                let old = before.email.clone();
                let mut a = before.clone();
                a.email = Email::parse("new@example.com").unwrap();
                s.update_user(UserUpdate::new(&before, a.clone()))
                    .await
                    .unwrap();
                assert!(s.user_by_email(&old).await.unwrap().is_none());
                assert_eq!(s.user_by_email(&a.email).await.unwrap().unwrap().id, a.id);
                // The old address is free again.
                s.create_user(&user("a@example.com"), None).await.unwrap();
            }

            #[::tokio::test]
            async fn single_use_tokens_spend_once() {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                let token = SpentToken {
                    id: $crate::__private::uuid::Uuid::now_v7(),
                    expires_at: $crate::__private::time::OffsetDateTime::now_utc()
                        + $crate::__private::time::Duration::hours(1),
                };
                let mut v = u.clone();
                v.is_verified = true;
                s.update_user(UserUpdate::new(&u, v.clone()).spending(token))
                    .await
                    .unwrap();
                let err = s
                    .update_user(UserUpdate::new(&v, v.clone()).spending(token))
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::TokenSpent), "{err:?}");
            }

            #[::tokio::test]
            async fn a_failed_update_spends_nothing() {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                let token = SpentToken {
                    id: $crate::__private::uuid::Uuid::now_v7(),
                    expires_at: $crate::__private::time::OffsetDateTime::now_utc()
                        + $crate::__private::time::Duration::hours(1),
                };
                // Stale version: refused, and the token stays usable.
                let mut stale = u.clone();
                stale.password_version = 7;
                let err = s
                    .update_user(UserUpdate::new(&stale, u.clone()).spending(token))
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::Conflict), "{err:?}");
                s.update_user(UserUpdate::new(&u, u.clone()).spending(token))
                    .await
                    .unwrap();
            }

            #[::tokio::test]
            async fn no_session_starts_for_a_changed_or_inactive_user() {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                let mut changed = u.clone();
                changed.password_version = 1;
                s.update_user(UserUpdate::new(&u, changed.clone()))
                    .await
                    .unwrap();
                // Begun under the old password: refused.
                let err = s
                    .create_session(&session(&u, 60), digest(1))
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::Conflict), "{err:?}");
                let mut inactive = changed.clone();
                inactive.is_active = false;
                s.update_user(UserUpdate::new(&changed, inactive.clone()))
                    .await
                    .unwrap();
                let err = s
                    .create_session(&session(&inactive, 60), digest(2))
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::Conflict), "{err:?}");
                let ghost = user("ghost@example.com");
                let err = s
                    .create_session(&session(&ghost, 60), digest(3))
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::Conflict), "{err:?}");
            }

            #[::tokio::test]
            async fn sessions_expire_by_the_given_clock() {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                let sess = session(&u, 60);
                s.create_session(&sess, digest(1)).await.unwrap();
                let now = $crate::__private::time::OffsetDateTime::now_utc();
                let (found, found_user) = s.session_with_user(sess.id, now).await.unwrap().unwrap();
                assert_eq!(found, sess);
                assert_eq!(found_user.id, u.id);
                let later = now + $crate::__private::time::Duration::seconds(61);
                assert!(s.session_with_user(sess.id, later).await.unwrap().is_none());
                let r = s.rotate_refresh(digest(1), digest(2), later).await.unwrap();
                assert_eq!(r, Rotation::Unknown);
            }

            #[::tokio::test]
            async fn refresh_rotates_and_reuse_revokes_the_session() {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                let sess = session(&u, 3600);
                s.create_session(&sess, digest(1)).await.unwrap();
                let now = $crate::__private::time::OffsetDateTime::now_utc();
                let r = s.rotate_refresh(digest(1), digest(2), now).await.unwrap();
                assert_eq!(r, Rotation::Rotated(sess.clone()));
                // Replaying the spent token revokes everything.
                let r = s.rotate_refresh(digest(1), digest(3), now).await.unwrap();
                assert_eq!(r, Rotation::Reused);
                assert!(s.session_with_user(sess.id, now).await.unwrap().is_none());
                let r = s.rotate_refresh(digest(2), digest(4), now).await.unwrap();
                assert_eq!(r, Rotation::Unknown);
                let r = s.rotate_refresh(digest(9), digest(5), now).await.unwrap();
                assert_eq!(r, Rotation::Unknown);
            }

            #[::tokio::test]
            async fn deleting_a_session_leaves_the_others() {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                let one = session(&u, 3600);
                let two = session(&u, 3600);
                s.create_session(&one, digest(1)).await.unwrap();
                s.create_session(&two, digest(2)).await.unwrap();
                s.delete_session(one.id).await.unwrap();
                s.delete_session(one.id).await.unwrap();
                let now = $crate::__private::time::OffsetDateTime::now_utc();
                assert!(s.session_with_user(one.id, now).await.unwrap().is_none());
                assert!(s.session_with_user(two.id, now).await.unwrap().is_some());
                let r = s.rotate_refresh(digest(1), digest(3), now).await.unwrap();
                assert_eq!(r, Rotation::Unknown);
            }

            #[::tokio::test]
            async fn revoking_sessions_in_an_update_ends_all_of_them() {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                let one = session(&u, 3600);
                let two = session(&u, 3600);
                s.create_session(&one, digest(1)).await.unwrap();
                s.create_session(&two, digest(2)).await.unwrap();
                let mut changed = u.clone();
                changed.password_version = 1;
                s.update_user(UserUpdate::new(&u, changed).revoking_sessions())
                    .await
                    .unwrap();
                let now = $crate::__private::time::OffsetDateTime::now_utc();
                assert!(s.session_with_user(one.id, now).await.unwrap().is_none());
                assert!(s.session_with_user(two.id, now).await.unwrap().is_none());
                let r = s.rotate_refresh(digest(2), digest(3), now).await.unwrap();
                assert_eq!(r, Rotation::Unknown);
            }

            #[::tokio::test]
            async fn mail_queued_with_a_user_is_written_atomically() {
                let s = store();
                let m = mail("a@example.com");
                s.create_user(&user("a@example.com"), Some(&m))
                    .await
                    .unwrap();
                // A refused create queues nothing.
                let refused = mail("a@example.com");
                let err = s
                    .create_user(&user("a@example.com"), Some(&refused))
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::EmailTaken), "{err:?}");
                let now = $crate::__private::time::OffsetDateTime::now_utc();
                let due = s.due_mail(now, 10).await.unwrap();
                assert_eq!(due, vec![m]);
                assert_eq!(s.pending_mail().await.unwrap(), 1);
            }

            #[::tokio::test]
            async fn mail_queued_with_an_update_is_written_atomically() {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                let m = mail("a@example.com");
                let err = s
                    .update_user(
                        UserUpdate::new(&user("other@example.com"), u.clone()).queuing(m.clone()),
                    )
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::Conflict), "{err:?}");
                assert_eq!(s.pending_mail().await.unwrap(), 0);
                s.update_user(UserUpdate::new(&u, u.clone()).queuing(m))
                    .await
                    .unwrap();
                assert_eq!(s.pending_mail().await.unwrap(), 1);
            }

            #[::tokio::test]
            async fn the_outbox_reschedules_finishes_and_dead_letters() {
                let s = store();
                let now = $crate::__private::time::OffsetDateTime::now_utc()
                    .replace_nanosecond(0)
                    .unwrap();
                let (a, b) = (mail("a@example.com"), mail("b@example.com"));
                s.enqueue_mail(&a).await.unwrap();
                s.enqueue_mail(&b).await.unwrap();
                assert_eq!(s.pending_mail().await.unwrap(), 2);
                assert_eq!(s.due_mail(now, 1).await.unwrap().len(), 1);

                let mut later = a.clone();
                later.attempts = 1;
                later.next_attempt_at = now + $crate::__private::time::Duration::minutes(5);
                later.last_error = Some("421 try later".into());
                s.reschedule_mail(&later).await.unwrap();
                assert_eq!(s.due_mail(now, 10).await.unwrap(), vec![b.clone()]);
                let then = now + $crate::__private::time::Duration::minutes(5);
                assert_eq!(s.due_mail(then, 10).await.unwrap().len(), 2);

                s.finish_mail(&b, None).await.unwrap();
                s.finish_mail(&later, Some("550 no such user"))
                    .await
                    .unwrap();
                assert_eq!(s.pending_mail().await.unwrap(), 0);
                assert!(s.due_mail(then, 10).await.unwrap().is_empty());
                let dead = s.dead_letters(10).await.unwrap();
                assert_eq!(dead.len(), 1);
                assert_eq!(dead[0].email.id, a.email.id);
                assert_eq!(dead[0].last_error.as_deref(), Some("550 no such user"));
                // Rescheduling a finished email does not resurrect it.
                s.reschedule_mail(&later).await.unwrap();
                assert_eq!(s.pending_mail().await.unwrap(), 0);
            }

            #[::tokio::test]
            async fn claims_return_due_mail_soonest_first() {
                let s = store();
                let now = $crate::__private::time::OffsetDateTime::now_utc()
                    .replace_nanosecond(0)
                    .unwrap();
                // Short: a shared store measures leases by its own clock
                // (the database's), so the test waits for one to end.
                let lease = $crate::__private::time::Duration::seconds(2);
                let (a, b) = (mail("a@example.com"), mail("b@example.com"));
                let mut later = mail("later@example.com");
                later.next_attempt_at = now + $crate::__private::time::Duration::hours(1);
                for m in [&later, &b, &a] {
                    s.enqueue_mail(m).await.unwrap();
                }
                let claimed = s.claim_mail(now, 1, lease).await.unwrap();
                assert_eq!(claimed.len(), 1);
                let claimed = s.claim_mail(now, 10, lease).await.unwrap();
                // Whatever a store leased is not due again within the lease;
                // an unleased one returns both. The later one is not due.
                let ids: Vec<_> = claimed.iter().map(|m| m.email.id).collect();
                assert!(!ids.contains(&later.email.id), "{ids:?}");
                assert!(ids.len() <= 2);
                // Once the lease ends, every unfinished email is due again.
                let waited = ::std::time::Instant::now();
                while s.due_mail(now_utc(), 10).await.unwrap().len() < 2 {
                    assert!(waited.elapsed() < ::std::time::Duration::from_secs(30));
                    ::tokio::time::sleep(::std::time::Duration::from_millis(50)).await;
                }
                let all = s.claim_mail(now_utc(), 10, lease).await.unwrap();
                let ids: Vec<_> = all.iter().map(|m| m.email.id).collect();
                assert_eq!(ids, vec![a.email.id, b.email.id]);
                s.finish_mail(&all[0], None).await.unwrap();
                s.finish_mail(&all[1], None).await.unwrap();
                let much_later = now + $crate::__private::time::Duration::hours(2);
                let left = s.due_mail(much_later, 10).await.unwrap();
                let ids: Vec<_> = left.iter().map(|m| m.email.id).collect();
                assert_eq!(ids, vec![later.email.id]);
                assert_eq!(s.pending_mail().await.unwrap(), 1);
            }

            #[::tokio::test]
            async fn a_claim_is_renewed_while_the_email_is_queued() {
                let s = store();
                let now = $crate::__private::time::OffsetDateTime::now_utc()
                    .replace_nanosecond(0)
                    .unwrap();
                let lease = $crate::__private::time::Duration::minutes(5);
                s.enqueue_mail(&mail("a@example.com")).await.unwrap();
                let claimed = s.claim_mail(now, 10, lease).await.unwrap().remove(0);
                assert!(s.renew_claim(&claimed, now, lease).await.unwrap());
                let mut failed = claimed.clone();
                failed.attempts = 1;
                failed.last_error = Some("421 try later".into());
                s.reschedule_mail(&failed).await.unwrap();
                // Its holder still holds it after recording a failure (a
                // shared store leases from its own clock's now, a moment
                // after `now`).
                let end = now + lease + $crate::__private::time::Duration::minutes(1);
                let due = s.due_mail(end, 10).await.unwrap();
                assert_eq!(due.len(), 1);
                assert_eq!(due[0].attempts, 1);
                assert!(s.renew_claim(&failed, now, lease).await.unwrap());
                s.finish_mail(&failed, None).await.unwrap();
                assert!(!s.renew_claim(&failed, now, lease).await.unwrap());
            }

            #[::tokio::test]
            async fn login_failures_count_up_reset_and_are_forgotten() {
                let s = store();
                let t0 = $crate::__private::time::OffsetDateTime::now_utc()
                    .replace_nanosecond(0)
                    .unwrap();
                let long_ago = t0 - $crate::__private::time::Duration::days(2);
                let day = $crate::__private::time::Duration::days(1);
                assert!(
                    s.login_failures("a@example.com", t0 - day)
                        .await
                        .unwrap()
                        .is_none()
                );
                for n in 1..=3 {
                    let f = s
                        .record_login_failure("a@example.com", t0, t0 - day)
                        .await
                        .unwrap();
                    assert_eq!((f.count, f.last_failure), (n, t0));
                }
                let f = s
                    .login_failures("a@example.com", t0 - day)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(f.count, 3);
                // Another key is counted on its own.
                let other = s
                    .record_login_failure("b@example.com", t0, t0 - day)
                    .await
                    .unwrap();
                assert_eq!(other.count, 1);
                // Counters older than the window are forgotten.
                let later = t0 + $crate::__private::time::Duration::days(3);
                assert!(
                    s.login_failures("a@example.com", later - day)
                        .await
                        .unwrap()
                        .is_none()
                );
                let f = s
                    .record_login_failure("a@example.com", later, later - day)
                    .await
                    .unwrap();
                assert_eq!(f.count, 1);
                s.clear_login_failures("a@example.com").await.unwrap();
                s.clear_login_failures("nobody").await.unwrap();
                assert!(
                    s.login_failures("a@example.com", long_ago)
                        .await
                        .unwrap()
                        .is_none()
                );
            }

            #[::tokio::test]
            async fn login_failure_keys_and_profiles_may_hold_any_character() {
                // The lockout keys join their parts with NUL; profile
                // fields are whatever JSON the app stores.
                let s = store();
                let t0 = $crate::__private::time::OffsetDateTime::now_utc()
                    .replace_nanosecond(0)
                    .unwrap();
                let day = $crate::__private::time::Duration::days(1);
                let key = "a@example.com\u{0}1\u{0}192.0.2.1";
                s.record_login_failure(key, t0, t0 - day).await.unwrap();
                let f = s.login_failures(key, t0 - day).await.unwrap().unwrap();
                assert_eq!(f.count, 1);
                assert!(
                    s.login_failures("a@example.com", t0 - day)
                        .await
                        .unwrap()
                        .is_none()
                );
                s.clear_login_failures(key).await.unwrap();
                assert!(s.login_failures(key, t0 - day).await.unwrap().is_none());

                let mut u = user("a@example.com");
                let fields: ::std::collections::BTreeMap<&str, &str> =
                    [("nick", "a\u{0}b\u{1b}")].into_iter().collect();
                u.profile = $crate::ProfileFields::from_typed(&fields).unwrap();
                s.create_user(&u, None).await.unwrap();
                assert_eq!(s.user(u.id).await.unwrap().unwrap(), u);
            }

            #[::tokio::test]
            async fn a_password_change_can_keep_the_callers_session() {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                let (mine, other) = (session(&u, 3600), session(&u, 3600));
                s.create_session(&mine, digest(1)).await.unwrap();
                s.create_session(&other, digest(2)).await.unwrap();
                let mut changed = u.clone();
                changed.password_version = 1;
                s.update_user(UserUpdate::new(&u, changed).revoking_sessions_except(mine.id))
                    .await
                    .unwrap();
                let now = $crate::__private::time::OffsetDateTime::now_utc();
                let (kept, _) = s.session_with_user(mine.id, now).await.unwrap().unwrap();
                assert_eq!(kept.password_version, 1);
                assert!(s.session_with_user(other.id, now).await.unwrap().is_none());
                // The kept session still refreshes; the other's token is gone.
                let r = s.rotate_refresh(digest(1), digest(3), now).await.unwrap();
                assert!(matches!(r, Rotation::Rotated(_)));
                let r = s.rotate_refresh(digest(2), digest(4), now).await.unwrap();
                assert_eq!(r, Rotation::Unknown);
            }

            #[::tokio::test]
            async fn reauthentication_stamps_the_session_and_survives_rotation_and_password_change()
            {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                let (mine, other) = (session(&u, 3600), session(&u, 3600));
                s.create_session(&mine, digest(1)).await.unwrap();
                s.create_session(&other, digest(2)).await.unwrap();
                let now = mine.created_at;
                let at = now + $crate::__private::time::Duration::seconds(5);
                assert!(s.reauthenticate_session(mine.id, at).await.unwrap());
                let (read, _) = s.session_with_user(mine.id, now).await.unwrap().unwrap();
                assert_eq!(read.authenticated_at, at);
                // Only that session: the other keeps its own proof time.
                let (read, _) = s.session_with_user(other.id, now).await.unwrap().unwrap();
                assert_eq!(read.authenticated_at, other.authenticated_at);
                // An older proof does not move it back.
                assert!(s.reauthenticate_session(mine.id, now).await.unwrap());
                let (read, _) = s.session_with_user(mine.id, now).await.unwrap().unwrap();
                assert_eq!(read.authenticated_at, at);
                // A refresh keeps the stamp: it proves no password.
                let r = s.rotate_refresh(digest(1), digest(3), now).await.unwrap();
                let Rotation::Rotated(rotated) = r else {
                    panic!("not rotated: {r:?}")
                };
                assert_eq!(rotated.authenticated_at, at);
                let (read, _) = s.session_with_user(mine.id, now).await.unwrap().unwrap();
                assert_eq!(read.authenticated_at, at);
                // The session kept through a password change keeps it too.
                let mut changed = u.clone();
                changed.password_version = 1;
                s.update_user(UserUpdate::new(&u, changed).revoking_sessions_except(mine.id))
                    .await
                    .unwrap();
                let (read, _) = s.session_with_user(mine.id, now).await.unwrap().unwrap();
                assert_eq!((read.authenticated_at, read.password_version), (at, 1));
                // No such session, an ended one, or one expired at `at`: false.
                assert!(!s.reauthenticate_session(other.id, at).await.unwrap());
                assert!(
                    !s.reauthenticate_session(SessionId::new(), at)
                        .await
                        .unwrap()
                );
                let late = mine.expires_at + $crate::__private::time::Duration::seconds(1);
                assert!(!s.reauthenticate_session(mine.id, late).await.unwrap());
                let (read, _) = s.session_with_user(mine.id, now).await.unwrap().unwrap();
                assert_eq!(read.authenticated_at, at);
            }

            #[::tokio::test]
            async fn deleting_a_user_frees_the_email_and_ends_the_sessions() {
                let s = store();
                let u = user("a@example.com");
                s.create_user(&u, None).await.unwrap();
                let sess = session(&u, 3600);
                s.create_session(&sess, digest(1)).await.unwrap();
                assert!(s.delete_user(u.id).await.unwrap());
                assert!(!s.delete_user(u.id).await.unwrap());
                assert!(s.user(u.id).await.unwrap().is_none());
                assert!(s.user_by_email(&u.email).await.unwrap().is_none());
                let now = $crate::__private::time::OffsetDateTime::now_utc();
                assert!(s.session_with_user(sess.id, now).await.unwrap().is_none());
                assert_eq!(
                    s.rotate_refresh(digest(1), digest(2), now).await.unwrap(),
                    Rotation::Unknown
                );
                s.create_user(&user("a@example.com"), None).await.unwrap();
            }

            #[::tokio::test]
            async fn roles_round_trip_through_every_read() {
                let s = store();
                let mut u = user("roles@example.com");
                u.roles = ["editor".to_owned(), "posts.admin-2:x_y".to_owned()].into();
                s.create_user(&u, None).await.unwrap();
                assert_eq!(s.user(u.id).await.unwrap().unwrap().roles, u.roles);
                let by_email = s.user_by_email(&u.email).await.unwrap().unwrap();
                assert_eq!(by_email.roles, u.roles);
                assert_eq!(s.list_users(None, 10).await.unwrap()[0].roles, u.roles);
                let sess = session(&u, 60);
                s.create_session(&sess, digest(1)).await.unwrap();
                let (_, with) = s
                    .session_with_user(sess.id, sess.created_at)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(with.roles, u.roles);
                // A revoke and a grant in one update; the session, read
                // again, carries the new roles at once.
                let mut next = u.clone();
                next.roles.remove("editor");
                next.roles.insert("viewer".to_owned());
                s.update_user(UserUpdate::new(&u, next.clone()))
                    .await
                    .unwrap();
                let (_, with) = s
                    .session_with_user(sess.id, sess.created_at)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(with, next);
                let mut none = next.clone();
                none.roles.clear();
                s.update_user(UserUpdate::new(&next, none.clone()))
                    .await
                    .unwrap();
                assert_eq!(s.user(u.id).await.unwrap().unwrap(), none);
            }

            #[::tokio::test]
            async fn a_role_change_is_a_compare_and_swap_on_the_whole_record() {
                let s = store();
                let original = user("cas@example.com");
                s.create_user(&original, None).await.unwrap();
                let mut granted = original.clone();
                granted.roles.insert("editor".to_owned());
                s.update_user(UserUpdate::new(&original, granted.clone()))
                    .await
                    .unwrap();
                // A writer that read the user before the grant must not
                // undo it, even when it changes another field.
                let mut stale = original.clone();
                stale.is_verified = true;
                let err = s
                    .update_user(UserUpdate::new(&original, stale))
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::Conflict), "{err:?}");
                // Nor may a revoke from a read that predates a change.
                let mut revoked = granted.clone();
                revoked.roles.clear();
                let mut verified = granted.clone();
                verified.is_verified = true;
                s.update_user(UserUpdate::new(&granted, verified.clone()))
                    .await
                    .unwrap();
                let err = s
                    .update_user(UserUpdate::new(&granted, revoked))
                    .await
                    .unwrap_err();
                assert!(matches!(err, StoreError::Conflict), "{err:?}");
                assert_eq!(s.user(original.id).await.unwrap().unwrap(), verified);
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn racing_grants_and_revokes_from_one_read_let_exactly_one_win() {
                let s = store();
                for round in 0..10 {
                    let mut u = user(&format!("race{round}@example.com"));
                    u.roles.insert("held".to_owned());
                    s.create_user(&u, None).await.unwrap();
                    let tasks: Vec<_> = (0..8)
                        .map(|i| {
                            let s = s.clone();
                            let mut next = u.clone();
                            if i % 2 == 0 {
                                next.roles.insert(format!("role{i}"));
                            } else {
                                next.roles.remove("held");
                            }
                            let update = UserUpdate::new(&u, next.clone());
                            ::tokio::spawn(async move { (s.update_user(update).await, next) })
                        })
                        .collect();
                    let mut winners = Vec::new();
                    for t in tasks {
                        match t.await.unwrap() {
                            (Ok(()), next) => winners.push(next),
                            (Err(StoreError::Conflict), _) => {}
                            (Err(e), _) => panic!("unexpected {e:?}"),
                        }
                    }
                    assert_eq!(winners.len(), 1, "round {round}");
                    assert_eq!(s.user(u.id).await.unwrap().unwrap(), winners[0]);
                }
            }

            fn superuser(email: &str) -> User {
                let mut u = user(email);
                u.is_superuser = true;
                u
            }

            #[::tokio::test]
            async fn the_last_active_superuser_cannot_be_demoted_deactivated_or_deleted() {
                let s = store();
                let root = superuser("root@example.com");
                s.create_user(&root, None).await.unwrap();
                // An inactive superuser does not count as one that remains.
                let mut dormant = superuser("dormant@example.com");
                dormant.is_active = false;
                s.create_user(&dormant, None).await.unwrap();
                s.create_user(&user("plain@example.com"), None)
                    .await
                    .unwrap();
                let mut demoted = root.clone();
                demoted.is_superuser = false;
                let mut deactivated = root.clone();
                deactivated.is_active = false;
                for next in [demoted.clone(), deactivated] {
                    let err = s
                        .update_user(UserUpdate::new(&root, next).revoking_sessions())
                        .await
                        .unwrap_err();
                    assert!(matches!(err, StoreError::LastSuperuser), "{err:?}");
                }
                let err = s.delete_user(root.id).await.unwrap_err();
                assert!(matches!(err, StoreError::LastSuperuser), "{err:?}");
                assert_eq!(s.user(root.id).await.unwrap().unwrap(), root);

                // With a second active superuser, either may go, not both.
                let mut woken = dormant.clone();
                woken.is_active = true;
                s.update_user(UserUpdate::new(&dormant, woken.clone()))
                    .await
                    .unwrap();
                s.update_user(UserUpdate::new(&root, demoted.clone()))
                    .await
                    .unwrap();
                let err = s.delete_user(woken.id).await.unwrap_err();
                assert!(matches!(err, StoreError::LastSuperuser), "{err:?}");
                let mut promoted = demoted.clone();
                promoted.is_superuser = true;
                s.update_user(UserUpdate::new(&demoted, promoted))
                    .await
                    .unwrap();
                assert!(s.delete_user(woken.id).await.unwrap());
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn two_superusers_demoting_each_other_at_once_leave_one() {
                let s = store();
                for round in 0..10 {
                    let a = superuser(&format!("a{round}@example.com"));
                    let b = superuser(&format!("b{round}@example.com"));
                    s.create_user(&a, None).await.unwrap();
                    s.create_user(&b, None).await.unwrap();
                    // Earlier rounds' survivor steps down, so these two are
                    // the only active superusers.
                    for old in s.list_users(None, 100).await.unwrap() {
                        if old.is_superuser && old.id != a.id && old.id != b.id {
                            s.delete_user(old.id).await.unwrap();
                        }
                    }
                    let demote = |u: &User| {
                        let s = s.clone();
                        let mut next = u.clone();
                        next.is_superuser = false;
                        let update = UserUpdate::new(u, next);
                        ::tokio::spawn(async move { s.update_user(update).await })
                    };
                    let (ra, rb) = (demote(&a), demote(&b));
                    let results = [ra.await.unwrap(), rb.await.unwrap()];
                    let won = results.iter().filter(|r| r.is_ok()).count();
                    assert_eq!(won, 1, "round {round}: {results:?}");
                    for r in &results {
                        if let Err(err) = r {
                            assert!(matches!(err, StoreError::LastSuperuser), "{err:?}");
                        }
                    }
                    let left = [
                        s.user(a.id).await.unwrap().unwrap(),
                        s.user(b.id).await.unwrap().unwrap(),
                    ];
                    assert_eq!(left.iter().filter(|u| u.is_superuser).count(), 1);
                }
            }

            #[::tokio::test]
            async fn users_page_in_creation_order_stably_while_users_are_added() {
                let s = store();
                let mut ids = Vec::new();
                for i in 0..5 {
                    let u = user(&format!("u{i}@example.com"));
                    s.create_user(&u, None).await.unwrap();
                    ids.push(u.id);
                    // UUIDv7 ids order by millisecond; keep them apart.
                    ::tokio::time::sleep(::std::time::Duration::from_millis(2)).await;
                }
                let page = s.list_users(None, 2).await.unwrap();
                assert_eq!(page.iter().map(|u| u.id).collect::<Vec<_>>(), ids[..2]);
                let late = user("late@example.com");
                s.create_user(&late, None).await.unwrap();
                let page = s.list_users(Some(ids[1]), 2).await.unwrap();
                assert_eq!(page.iter().map(|u| u.id).collect::<Vec<_>>(), ids[2..4]);
                let page = s.list_users(Some(ids[3]), 10).await.unwrap();
                assert_eq!(
                    page.iter().map(|u| u.id).collect::<Vec<_>>(),
                    vec![ids[4], late.id]
                );
            }

            #[::tokio::test]
            async fn rate_limit_buckets_pass_a_burst_then_say_how_long_to_wait() {
                use $crate::__private::time::{Duration, OffsetDateTime};
                let s = store();
                let now = OffsetDateTime::now_utc();
                let per = Duration::seconds(10);
                for _ in 0..3 {
                    assert_eq!(s.rate_limit("login a", now, 3, per).await.unwrap(), None);
                }
                // Three spent at once: the next one is a period away, and a
                // refusal does not push it further.
                for _ in 0..2 {
                    let wait = s.rate_limit("login a", now, 3, per).await.unwrap();
                    assert_eq!(wait, Some(per));
                }
                // Other buckets are untouched.
                assert_eq!(s.rate_limit("login b", now, 3, per).await.unwrap(), None);
                assert_eq!(s.rate_limit("token a", now, 1, per).await.unwrap(), None);
                // A period later, exactly one more passes.
                let later = now + per;
                assert_eq!(s.rate_limit("login a", later, 3, per).await.unwrap(), None);
                let wait = s.rate_limit("login a", later, 3, per).await.unwrap();
                assert_eq!(wait, Some(per));
                // Long idle, the whole burst is back.
                let idle = now + Duration::hours(1);
                for _ in 0..3 {
                    assert_eq!(s.rate_limit("login a", idle, 3, per).await.unwrap(), None);
                }
                assert!(
                    s.rate_limit("login a", idle, 3, per)
                        .await
                        .unwrap()
                        .is_some()
                );
            }

            /// Charges released together from sixteen threads, as from
            /// several instances: no more than the burst passes.
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_charges_of_one_bucket_never_pass_more_than_the_burst() {
                use ::std::sync::{Arc, Barrier};
                use $crate::__private::time::{Duration, OffsetDateTime};
                const CHARGES: usize = 16;
                let s = store();
                let now = OffsetDateTime::now_utc();
                let runtime = ::tokio::runtime::Handle::current();
                let barrier = Arc::new(Barrier::new(CHARGES));
                let threads: Vec<_> = (0..CHARGES)
                    .map(|_| {
                        let (s, runtime, barrier) = (s.clone(), runtime.clone(), barrier.clone());
                        ::std::thread::spawn(move || {
                            barrier.wait();
                            runtime.block_on(s.rate_limit("register x", now, 5, Duration::hours(1)))
                        })
                    })
                    .collect();
                let verdicts = ::tokio::task::spawn_blocking(move || {
                    threads
                        .into_iter()
                        .map(|t| t.join().unwrap().unwrap())
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap();
                let passed = verdicts.iter().filter(|v| v.is_none()).count();
                assert_eq!(passed, 5, "{verdicts:?}");
            }

            #[::tokio::test]
            async fn secrets_are_created_once() {
                let s = store();
                let (first, created) = s.get_or_create_secret("k", vec![1; 32]).await.unwrap();
                assert!(created);
                let (again, created) = s.get_or_create_secret("k", vec![2; 32]).await.unwrap();
                assert!(!created);
                assert_eq!(first, again);
            }

            $crate::__store_conformance_usernames!();
        }
    };
}
