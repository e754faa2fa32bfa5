-- When the user last proved the password in each session (tower-users
-- schema version 6): at login, then at each re-authentication; sensitive
-- changes need it recent. Sessions begun before this version count as
-- proved at their login, which is when they were created. Version 6 is
-- on its own track: the runner applies every version not yet recorded.
ALTER TABLE {s}.{p}sessions ADD COLUMN authenticated_at timestamptz;
UPDATE {s}.{p}sessions SET authenticated_at = created_at;
ALTER TABLE {s}.{p}sessions ALTER COLUMN authenticated_at SET NOT NULL;
-- Instances still on version 5 during a rolling deploy insert sessions
-- without the column: their login counts as the proof it is.
ALTER TABLE {s}.{p}sessions ALTER COLUMN authenticated_at SET DEFAULT now();
