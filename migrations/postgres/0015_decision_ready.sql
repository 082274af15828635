-- When the decider of an open proposal was told it is ready for their
-- decision (projection of `decision_ready` entries, which the server's
-- clock appends once the window ends or every voting member responded).
-- A new decider or a new window end clears it, so the next one is told.
ALTER TABLE proposals ADD COLUMN ready_at TIMESTAMPTZ;
-- The clock looks for open proposals whose decider has not been told.
CREATE INDEX proposals_unprompted ON proposals (closes_at) WHERE status = 'open' AND ready_at IS NULL;

-- The outbox takes the kinds of notice that keep a decision moving: ready
-- for your decision (now), and the overdue reminder, the escalation and
-- the mention that follow.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('decider_named', 'decided', 'reminder', 'invitation', 'digest',
                    'opened', 'updated', 'withdrawn',
                    'ready', 'overdue', 'escalated', 'mentioned'));
