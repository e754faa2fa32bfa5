//! Stands in for a store author's crate: its tests run tower-users'
//! conformance suite with nothing but tower-users and tokio.
