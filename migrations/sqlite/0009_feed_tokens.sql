-- Private feed URLs (issue #8). Operational, not part of the log.
--
-- A member subscribes a feed reader to a team's decisions (Atom) or a
-- calendar to the deadlines still waiting for their stance (iCalendar).
-- Neither can sign in, so the URL carries a secret token that names the
-- member, the team and the feed. Only a SHA-256 of the token is kept (it is
-- 256 random bits, so a fast hash is enough). Revoking deletes the row. A
-- token works only while its member belongs to the team and was created
-- after they (last) joined, so leaving or being removed ends it for good.
CREATE TABLE feed_tokens (
    id         INTEGER PRIMARY KEY,
    team_id    INTEGER NOT NULL REFERENCES teams (id),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('decisions', 'deadlines')),
    label      TEXT    NOT NULL,
    token_hash BLOB    NOT NULL UNIQUE,
    created_at TEXT    NOT NULL
);
CREATE INDEX feed_tokens_member ON feed_tokens (team_id, user_id);
