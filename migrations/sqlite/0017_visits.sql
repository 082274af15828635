-- Where each member last looked at each team's dashboard: the size of the
-- team's log then, so "Since your last visit" lists the entries after it.
-- Not a projection of the log: a member's own reading state.
CREATE TABLE visits (
    user_id   INTEGER NOT NULL REFERENCES users (id),
    team_id   INTEGER NOT NULL REFERENCES teams (id),
    seen_size INTEGER NOT NULL,
    seen_at   TEXT    NOT NULL,
    PRIMARY KEY (user_id, team_id)
);
