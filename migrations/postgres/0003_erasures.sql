-- Erased content items (projection of `content_erased` log entries): the
-- text and salt in log_contents are gone, the commitment stays in the
-- payload, and pages say who erased what when.
-- `field` sorts bytewise like log_contents.field (see 0001).
CREATE TABLE erasures (
    team_id   BIGINT NOT NULL REFERENCES teams (id),
    idx       BIGINT NOT NULL,   -- the entry whose text was erased
    field     TEXT COLLATE "C" NOT NULL,
    erased_at TIMESTAMPTZ NOT NULL,
    erased_by BIGINT NOT NULL REFERENCES users (id),
    log_idx   BIGINT NOT NULL,   -- the content_erased entry
    PRIMARY KEY (team_id, idx, field)
);
