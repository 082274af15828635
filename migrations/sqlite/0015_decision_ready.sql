-- When the decider of an open proposal was told it is ready for their
-- decision (projection of `decision_ready` entries, which the server's
-- clock appends once the window ends or every voting member responded).
-- A new decider or a new window end clears it, so the next one is told.
ALTER TABLE proposals ADD COLUMN ready_at TEXT;
-- The clock looks for open proposals whose decider has not been told.
CREATE INDEX proposals_unprompted ON proposals (closes_at) WHERE status = 'open' AND ready_at IS NULL;

-- The outbox takes the kinds of notice that keep a decision moving: ready
-- for your decision (now), and the overdue reminder, the escalation and
-- the mention that follow. SQLite cannot change a CHECK constraint in
-- place: the outbox is copied into a table that allows them.
CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL
        CHECK (kind IN ('decider_named', 'decided', 'reminder', 'invitation', 'digest',
                        'opened', 'updated', 'withdrawn',
                        'ready', 'overdue', 'escalated', 'mentioned')),
    recipient       TEXT    NOT NULL,
    user_id         INTEGER REFERENCES users (id),
    team_id         INTEGER NOT NULL REFERENCES teams (id),
    proposal_number INTEGER,
    log_idx         INTEGER,
    data            TEXT,
    dedupe          TEXT    UNIQUE,
    status          TEXT    NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sending', 'sent', 'skipped', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    sent_at         TEXT
);
INSERT INTO outbox_new SELECT id, kind, recipient, user_id, team_id, proposal_number, log_idx, data,
    dedupe, status, attempts, next_attempt_at, last_error, created_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recent ON outbox (created_at);
