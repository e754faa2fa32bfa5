//! Integration tests over real HTTP: a server on 127.0.0.1:0, a redb file on
//! disk. One test binary (modules per capability) so CI links once.
#![allow(clippy::unwrap_used, dead_code)]

mod abuse;
mod account;
mod admin;
mod bursts;
mod common;
mod cookies;
mod examples;
mod guards;
mod hooks;
mod jwt_attacks;
mod mail;
mod malformed;
mod mounts;
mod openapi;
mod pages;
mod password_reset;
mod private_registration;
mod processes;
mod readme;
mod reauth;
mod registration;
mod roles;
mod sessions;
mod smtp_sink;
mod usernames;
mod verification;
