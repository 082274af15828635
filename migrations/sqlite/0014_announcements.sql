-- No one is left out (issue #19): every member hears that a proposal opened,
-- changed its decider or deadline, was decided or was withdrawn.
--
-- The entry's transaction writes one `announcements` row (cheap, whatever
-- the team's size); the mail worker later expands it, in a transaction of
-- its own, into one outbox row per member and marks it done. Each expanded
-- row carries the key `kind:team:entry:user` in `outbox.dedupe`, so two
-- instances, or a restart halfway, still queue each member's mail once.

ALTER TABLE users ADD COLUMN notify_opened INTEGER NOT NULL DEFAULT 1;  -- a proposal opened or changed its decider or deadline
ALTER TABLE users ADD COLUMN digest_opened INTEGER NOT NULL DEFAULT 0;  -- fold opening notices into the digest instead

CREATE TABLE announcements (
    team_id         INTEGER NOT NULL REFERENCES teams (id),
    log_idx         INTEGER NOT NULL,           -- the entry announced
    kind            TEXT    NOT NULL
        CHECK (kind IN ('opened', 'updated', 'decided', 'withdrawn')),
    proposal_number INTEGER NOT NULL,
    actor           INTEGER NOT NULL REFERENCES users (id),
    data            TEXT,                       -- what changed (JSON), copied into each outbox row
    created_at      TEXT    NOT NULL,
    done_at         TEXT,                       -- expanded into the outbox
    PRIMARY KEY (team_id, log_idx)
);
CREATE INDEX announcements_pending ON announcements (created_at) WHERE done_at IS NULL;

-- SQLite cannot change a CHECK constraint in place: the outbox is copied
-- into a table that allows the new kinds.
CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL
        CHECK (kind IN ('decider_named', 'decided', 'reminder', 'invitation', 'digest',
                        'opened', 'updated', 'withdrawn')),
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
