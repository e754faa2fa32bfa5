-- Rate-limit buckets that every instance sharing the database charges
-- (GCRA): the theoretical arrival time of the bucket's next request, in
-- microseconds since the Unix epoch, and whether the last charge passed
-- (so one statement both decides and reports). A bucket whose time has
-- passed is at a full burst, and is deleted a few at a time.
CREATE TABLE {s}.{p}rate_limits (
    key text PRIMARY KEY,
    tat bigint NOT NULL,
    passed boolean NOT NULL
);
