-- Erased content items (projection of `content_erased` log entries): the
-- text and salt in log_contents are gone, the commitment stays in the
-- payload, and pages say who erased what when.
CREATE TABLE erasures (
    team_id   INTEGER NOT NULL REFERENCES teams (id),
    idx       INTEGER NOT NULL,   -- the entry whose text was erased
    field     TEXT    NOT NULL,
    erased_at TEXT    NOT NULL,
    erased_by INTEGER NOT NULL REFERENCES users (id),
    log_idx   INTEGER NOT NULL,   -- the content_erased entry
    PRIMARY KEY (team_id, idx, field)
);
