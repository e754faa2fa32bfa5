-- Roles per user (tower-users schema version 5). An array column on the
-- user's own row, not a user_roles table: every authenticated request
-- reads the user with its session in one primary-key join, and the roles
-- come with that row at no extra cost; a role change is the same
-- whole-record compare-and-swap as any other change of the user. Names
-- are checked by tower-users (ASCII, at most 64 bytes) before they get
-- here. Version 4 is the usernames migration, on its own track: the
-- runner applies every version not yet recorded, in order.
ALTER TABLE {s}.{p}users ADD COLUMN roles text[] NOT NULL DEFAULT '{}';
