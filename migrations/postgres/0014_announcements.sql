-- No one is left out (issue #19). Mirrors migrations/sqlite/0014_announcements.sql
-- (see there for the design).

ALTER TABLE users ADD COLUMN notify_opened BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE users ADD COLUMN digest_opened BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE announcements (
    team_id         BIGINT NOT NULL REFERENCES teams (id),
    log_idx         BIGINT NOT NULL,
    kind            TEXT   NOT NULL
        CHECK (kind IN ('opened', 'updated', 'decided', 'withdrawn')),
    proposal_number BIGINT NOT NULL,
    actor           BIGINT NOT NULL REFERENCES users (id),
    data            TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    done_at         TIMESTAMPTZ,
    PRIMARY KEY (team_id, log_idx)
);
CREATE INDEX announcements_pending ON announcements (created_at) WHERE done_at IS NULL;

ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('decider_named', 'decided', 'reminder', 'invitation', 'digest',
                    'opened', 'updated', 'withdrawn'));
