-- Linking decisions from pull requests (issue #5).

-- Webhook secrets per team (operational). Kept in clear: an HMAC needs the
-- secret itself. Several per host at once, so a secret can be rotated.
CREATE TABLE webhook_secrets (
    id         INTEGER PRIMARY KEY,
    team_id    INTEGER NOT NULL REFERENCES teams (id),
    host       TEXT    NOT NULL CHECK (host IN ('github', 'gitlab', 'gitea', 'forgejo')),
    secret     TEXT    NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT    NOT NULL
);

-- Deliveries already handled, so a redelivery changes nothing.
CREATE TABLE webhook_deliveries (
    team_id     INTEGER NOT NULL REFERENCES teams (id),
    host        TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    received_at TEXT    NOT NULL,
    PRIMARY KEY (team_id, host, delivery_id)
);

-- Pull requests that reference a decision (projection of pr_referenced).
CREATE TABLE pr_links (
    team_id    INTEGER NOT NULL REFERENCES teams (id),
    number     INTEGER NOT NULL,           -- the decision's number (KEY-N)
    host       TEXT    NOT NULL,
    repo       TEXT    NOT NULL,
    pr         INTEGER NOT NULL,
    url        TEXT    NOT NULL,
    title      TEXT    NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('open', 'closed', 'merged')),
    first_seen TEXT    NOT NULL,
    log_idx    INTEGER NOT NULL,           -- the entry that last changed the row
    PRIMARY KEY (team_id, number, host, repo, pr)
);
