-- Usernames (version 4): optional, and unique once normalized. tower-users
-- normalizes them (`Username::parse`: NFKC, case-folded, ASCII letters,
-- digits, `_`, `-`, `.`) before any write or lookup, so a plain unique
-- index is uniqueness of the normalized name. NULLs do not collide, so
-- every user without a username fits.
ALTER TABLE {s}.{p}users ADD COLUMN username text;
CREATE UNIQUE INDEX {p}users_username_key ON {s}.{p}users (username);
