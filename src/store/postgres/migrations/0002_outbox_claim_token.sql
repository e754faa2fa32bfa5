-- The claim an outbox row is held under: set by each claim, required by the
-- worker's renewal, reschedule and dead-lettering, so that a worker whose
-- lease ran out and was claimed again cannot act on the row any more.
ALTER TABLE {s}.{p}outbox ADD COLUMN claim_token uuid;
