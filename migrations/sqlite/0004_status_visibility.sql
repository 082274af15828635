-- Decision status for CI (issue #5): whether a team shows the status (never
-- the contents) of its decisions to anyone, and tokens that read status.
ALTER TABLE teams ADD COLUMN status_public INTEGER NOT NULL DEFAULT 0;  -- projection of status_visibility_changed

-- Team status tokens (operational, not in the log): read-only access to the
-- status and badge of the team's decisions. Only a SHA-256 is kept.
CREATE TABLE status_tokens (
    id         INTEGER PRIMARY KEY,
    team_id    INTEGER NOT NULL REFERENCES teams (id),
    label      TEXT    NOT NULL,
    token_hash BLOB    NOT NULL UNIQUE,
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT    NOT NULL
);
