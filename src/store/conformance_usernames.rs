//! The username cases of the store conformance suite, expanded inside the
//! module `store_conformance!` generates (whose
//! `store()` and `user()` helpers they use).

/// The username conformance cases; invoked by `store_conformance!`, not
/// meant to be used alone.
#[cfg(any(test, feature = "test-util"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_usernames {
    () => {
        fn named(email: &str, name: &str) -> User {
            let mut u = user(email);
            u.username = Some($crate::Username::parse(name).unwrap());
            u
        }

        fn name(raw: &str) -> $crate::Username {
            $crate::Username::parse(raw).unwrap()
        }

        #[::tokio::test]
        async fn a_user_is_found_by_its_username_and_any_spelling_of_it() {
            let s = store();
            let u = named("a@example.com", "Alice");
            s.create_user(&u, None).await.unwrap();
            s.create_user(&user("b@example.com"), None).await.unwrap();
            for spelling in ["alice", "ALICE", "ａｌｉｃｅ"] {
                let found = s.user_by_username(&name(spelling)).await.unwrap();
                assert_eq!(found.as_ref(), Some(&u), "{spelling:?}");
            }
            assert!(s.user_by_username(&name("bob")).await.unwrap().is_none());
        }

        #[::tokio::test]
        async fn create_refuses_a_taken_username_in_any_spelling_and_writes_nothing() {
            let s = store();
            s.create_user(&named("a@example.com", "alice"), None)
                .await
                .unwrap();
            for (i, spelling) in ["alice", "ALICE", "ＡＬＩＣＥ"].into_iter().enumerate() {
                let other = named(&format!("b{i}@example.com"), spelling);
                let err = s.create_user(&other, None).await.unwrap_err();
                assert!(matches!(err, StoreError::UsernameTaken), "{err:?}");
                assert!(s.user(other.id).await.unwrap().is_none());
                assert!(s.user_by_email(&other.email).await.unwrap().is_none());
            }
            // Users without a username never collide with each other.
            s.create_user(&user("c@example.com"), None).await.unwrap();
            s.create_user(&user("d@example.com"), None).await.unwrap();
        }

        #[::tokio::test]
        async fn update_to_a_taken_username_is_refused_and_changes_nothing() {
            let s = store();
            s.create_user(&named("a@example.com", "alice"), None)
                .await
                .unwrap();
            let b = named("b@example.com", "bob");
            s.create_user(&b, None).await.unwrap();
            let mut taken = b.clone();
            taken.username = Some(name("Alice"));
            taken.is_verified = true;
            let err = s.update_user(UserUpdate::new(&b, taken)).await.unwrap_err();
            assert!(matches!(err, StoreError::UsernameTaken), "{err:?}");
            assert_eq!(s.user(b.id).await.unwrap().unwrap(), b);
            assert_eq!(
                s.user_by_username(&name("bob"))
                    .await
                    .unwrap()
                    .map(|u| u.id),
                Some(b.id)
            );
        }

        #[::tokio::test]
        async fn a_rename_a_clear_or_a_delete_frees_the_old_username() {
            let s = store();
            let a = named("a@example.com", "alice");
            s.create_user(&a, None).await.unwrap();
            let mut renamed = a.clone();
            renamed.username = Some(name("alicia"));
            s.update_user(UserUpdate::new(&a, renamed.clone()))
                .await
                .unwrap();
            assert!(s.user_by_username(&name("alice")).await.unwrap().is_none());
            assert_eq!(
                s.user_by_username(&name("alicia")).await.unwrap().as_ref(),
                Some(&renamed)
            );
            // The freed name is anyone's again.
            let b = named("b@example.com", "alice");
            s.create_user(&b, None).await.unwrap();
            // Clearing frees it too.
            let mut cleared = renamed.clone();
            cleared.username = None;
            s.update_user(UserUpdate::new(&renamed, cleared.clone()))
                .await
                .unwrap();
            assert!(s.user_by_username(&name("alicia")).await.unwrap().is_none());
            assert_eq!(s.user(a.id).await.unwrap().unwrap().username, None);
            // So does deleting the user.
            assert!(s.delete_user(b.id).await.unwrap());
            assert!(s.user_by_username(&name("alice")).await.unwrap().is_none());
            let mut reclaimed = cleared.clone();
            reclaimed.username = Some(name("alice"));
            s.update_user(UserUpdate::new(&cleared, reclaimed))
                .await
                .unwrap();
        }

        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_claims_of_one_username_make_one_winner() {
            let s = store();
            let mut users = Vec::new();
            for i in 0..10 {
                let u = user(&format!("u{i}@example.com"));
                s.create_user(&u, None).await.unwrap();
                users.push(u);
            }
            let renames: Vec<_> = users
                .into_iter()
                .enumerate()
                .map(|(i, u)| {
                    let s = s.clone();
                    ::tokio::spawn(async move {
                        let mut next = u.clone();
                        // Each claims its own spelling of one name.
                        next.username = Some(name(if i % 2 == 0 { "race" } else { "RACE" }));
                        s.update_user(UserUpdate::new(&u, next)).await
                    })
                })
                .collect();
            let creates: Vec<_> = (0..10)
                .map(|i| {
                    let s = s.clone();
                    ::tokio::spawn(async move {
                        s.create_user(&named(&format!("n{i}@example.com"), "Race"), None)
                            .await
                    })
                })
                .collect();
            let mut won = 0;
            for t in renames.into_iter().chain(creates) {
                match t.await.unwrap() {
                    Ok(()) => won += 1,
                    Err(StoreError::UsernameTaken) => {}
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            assert_eq!(won, 1);
            assert!(s.user_by_username(&name("race")).await.unwrap().is_some());
        }
    };
}
