-- The newest time a code host stamped on a pull request (issue #17).
--
-- Deliveries arrive out of order and can be resent under a new delivery id,
-- so the host's own "updated at" of the pull request in each payload orders
-- them: a state change older than the newest one applied is ignored.
-- Operational, like webhook_deliveries: not a projection of the log, so a
-- rebuild of the read tables keeps it.
CREATE TABLE pr_host_times (
    team_id         INTEGER NOT NULL REFERENCES teams (id),
    host            TEXT    NOT NULL,
    repo            TEXT    NOT NULL,
    pr              INTEGER NOT NULL,
    host_updated_at TEXT    NOT NULL,
    PRIMARY KEY (team_id, host, repo, pr)
);
