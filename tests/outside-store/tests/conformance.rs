//! The conformance suite, run from outside tower-users against its redb
//! store (a store author passes their own store's constructor instead).

tower_users::store_conformance!(redb_in_memory, || {
    tower_users::RedbStore::in_memory().expect("an in-memory redb store opens")
});
