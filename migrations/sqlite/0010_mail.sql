-- Email (issue #4): each member's mail settings, and the outbox.
--
-- Every mail is an outbox row, written in the same transaction as the event
-- (or invitation) that causes it; a worker delivers due rows and records
-- each attempt. A row is composed when it is sent, from the tables (so an
-- erased text stays erased), under a Message-ID derived from the row.

ALTER TABLE users ADD COLUMN notify_decider  INTEGER NOT NULL DEFAULT 1; -- you were named decider
ALTER TABLE users ADD COLUMN notify_decided  INTEGER NOT NULL DEFAULT 1; -- a proposal you took part in was decided
ALTER TABLE users ADD COLUMN notify_reminder INTEGER NOT NULL DEFAULT 1; -- 24 h before a deadline, no stance yet
ALTER TABLE users ADD COLUMN digest TEXT NOT NULL DEFAULT 'off'
    CHECK (digest IN ('off', 'daily', 'weekly'));
ALTER TABLE users ADD COLUMN digest_hour INTEGER NOT NULL DEFAULT 8
    CHECK (digest_hour BETWEEN 0 AND 23);                                  -- in the member's time zone
ALTER TABLE users ADD COLUMN last_digest_at TEXT;                         -- the last digest slot handled

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL
        CHECK (kind IN ('decider_named', 'decided', 'reminder', 'invitation', 'digest')),
    recipient       TEXT    NOT NULL,           -- the address, as it was when queued
    user_id         INTEGER REFERENCES users (id),
    team_id         INTEGER NOT NULL REFERENCES teams (id),
    proposal_number INTEGER,
    log_idx         INTEGER,                    -- the log entry that caused it, if any
    data            TEXT,                       -- what else the mail needs (JSON)
    dedupe          TEXT    UNIQUE,             -- at most one row per key (reminders, digests)
    status          TEXT    NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sending', 'sent', 'skipped', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,           -- due time; while sending, when the claim lapses
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recent ON outbox (created_at);
