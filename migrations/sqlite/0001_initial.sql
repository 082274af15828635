-- Settled schema, SQLite dialect. Forward-only: change the schema with a new
-- numbered file, never by editing this one (sqlx checks the checksum).
--
-- Timestamps are RFC 3339 text in UTC with microseconds, generated in Rust
-- (never by the database), so both backends store the same values.
-- Booleans are INTEGER 0/1.

-- Accounts ----------------------------------------------------------------

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL,           -- as the user typed it
    email_norm    TEXT    NOT NULL UNIQUE,    -- lower-cased: emails are unique case-insensitively
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,           -- argon2id PHC string
    time_zone     TEXT    NOT NULL DEFAULT 'UTC',
    is_admin      INTEGER NOT NULL DEFAULT 0, -- instance admin: the first account
    created_at    TEXT    NOT NULL
);

-- Personal API tokens. Only a SHA-256 of the token is kept: the token is a
-- 256-bit random secret, so a fast hash is enough (no guessing to slow down).
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    label        TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT
);

-- tower-sessions records (our own store over the app's database).
CREATE TABLE sessions (
    id          TEXT    PRIMARY KEY,
    data        BLOB    NOT NULL,
    expiry_date INTEGER NOT NULL              -- unix seconds
);
CREATE INDEX sessions_expiry ON sessions (expiry_date);

-- The log ---------------------------------------------------------------
--
-- One append-only log per team, entries numbered from 0. `payload` is the
-- exact canonical JSON that was hashed; leaf_hash = SHA-256(0x00 || payload).

CREATE TABLE log_entries (
    team_id         INTEGER NOT NULL,
    idx             INTEGER NOT NULL,
    created_at      TEXT    NOT NULL,
    actor_id        INTEGER NOT NULL REFERENCES users (id),
    kind            TEXT    NOT NULL,
    proposal_number INTEGER,                  -- the proposal an entry is about, if any (for history pages)
    payload         TEXT    NOT NULL,
    leaf_hash       BLOB    NOT NULL,
    PRIMARY KEY (team_id, idx)
);
CREATE INDEX log_entries_proposal ON log_entries (team_id, proposal_number);

-- History cannot be rewritten, not even by a bug in the app.
CREATE TRIGGER log_entries_no_update BEFORE UPDATE ON log_entries
BEGIN
    SELECT RAISE(ABORT, 'log entries are append-only');
END;
CREATE TRIGGER log_entries_no_delete BEFORE DELETE ON log_entries
BEGIN
    SELECT RAISE(ABORT, 'log entries are append-only');
END;

-- Free text named in a payload only by its commitment SHA-256(salt || text).
-- Kept beside the entry so it can later be erased without breaking a hash.
CREATE TABLE log_contents (
    team_id   INTEGER NOT NULL,
    idx       INTEGER NOT NULL,
    field     TEXT    NOT NULL,               -- path of the field in the payload, e.g. "body"
    salt      BLOB,                           -- NULL once erased
    text      TEXT,                           -- NULL once erased
    PRIMARY KEY (team_id, idx, field),
    FOREIGN KEY (team_id, idx) REFERENCES log_entries (team_id, idx)
);

-- The head of each team's tree: size, root and the frontier (roots of the
-- perfect subtrees on the right edge) so an append costs O(log n).
CREATE TABLE log_heads (
    team_id  INTEGER PRIMARY KEY,
    size     INTEGER NOT NULL,
    root     BLOB    NOT NULL,
    frontier BLOB    NOT NULL
);

-- Read tables: projections of the log --------------------------------------
--
-- Everything below is written only by the ledger's projection of log
-- entries, so `settled verify` can rebuild it from the log and compare.
-- `log_idx` columns name the entry that wrote a row.

CREATE TABLE teams (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    slug         TEXT    NOT NULL UNIQUE,
    key          TEXT    NOT NULL UNIQUE,
    window_hours INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    created_by   INTEGER NOT NULL REFERENCES users (id),
    next_number  INTEGER NOT NULL DEFAULT 1   -- next proposal number (KEY-N)
);

CREATE TABLE memberships (
    team_id    INTEGER NOT NULL REFERENCES teams (id),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'member', 'observer')),
    joined_at  TEXT    NOT NULL,
    removed_at TEXT,                          -- removed members keep their history
    log_idx    INTEGER NOT NULL,
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE areas (
    id                  INTEGER PRIMARY KEY,
    team_id             INTEGER NOT NULL REFERENCES teams (id),
    name                TEXT    NOT NULL,
    description         TEXT    NOT NULL,
    default_decider_id  INTEGER NOT NULL REFERENCES users (id),
    log_idx             INTEGER NOT NULL
);
CREATE UNIQUE INDEX areas_team_name ON areas (team_id, name);

CREATE TABLE proposals (
    id              INTEGER PRIMARY KEY,
    team_id         INTEGER NOT NULL REFERENCES teams (id),
    number          INTEGER NOT NULL,
    title           TEXT    NOT NULL,
    body            TEXT    NOT NULL,         -- the current revision
    area_id         INTEGER REFERENCES areas (id),
    author_id       INTEGER NOT NULL REFERENCES users (id),
    decider_id      INTEGER NOT NULL REFERENCES users (id),
    created_at      TEXT    NOT NULL,
    closes_at       TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('open', 'accepted', 'rejected', 'withdrawn', 'superseded')),
    withdrawn_reason TEXT,
    supersedes      INTEGER,                  -- number of the proposal this one replaces
    superseded_by   INTEGER,                  -- number of the accepted proposal that replaced this one
    log_idx         INTEGER NOT NULL,         -- the entry that last changed the row
    UNIQUE (team_id, number)
);
CREATE INDEX proposals_status ON proposals (team_id, status, closes_at);

CREATE TABLE proposal_revisions (
    proposal_id INTEGER NOT NULL REFERENCES proposals (id),
    revision    INTEGER NOT NULL,             -- 1 is the original text
    body        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    log_idx     INTEGER NOT NULL,
    PRIMARY KEY (proposal_id, revision)
);

CREATE TABLE decider_changes (
    proposal_id INTEGER NOT NULL REFERENCES proposals (id),
    log_idx     INTEGER NOT NULL,
    from_id     INTEGER NOT NULL REFERENCES users (id),
    to_id       INTEGER NOT NULL REFERENCES users (id),
    changed_by  INTEGER NOT NULL REFERENCES users (id),
    changed_at  TEXT    NOT NULL,
    PRIMARY KEY (proposal_id, log_idx)
);

-- Every stance ever taken; a member's current stance is their latest row.
CREATE TABLE stances (
    proposal_id INTEGER NOT NULL REFERENCES proposals (id),
    log_idx     INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    position    TEXT    NOT NULL CHECK (position IN ('agree', 'disagree', 'abstain', 'object')),
    reason      TEXT,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (proposal_id, log_idx)
);
CREATE INDEX stances_user ON stances (proposal_id, user_id, log_idx);

CREATE TABLE comments (
    proposal_id INTEGER NOT NULL REFERENCES proposals (id),
    log_idx     INTEGER NOT NULL,
    author_id   INTEGER NOT NULL REFERENCES users (id),
    body        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (proposal_id, log_idx)
);

-- The immutable record of what was agreed. tree_size/root_hash: the tree head
-- right after the sealing entry was appended.
CREATE TABLE decisions (
    proposal_id INTEGER PRIMARY KEY REFERENCES proposals (id),
    outcome     TEXT    NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    statement   TEXT    NOT NULL,
    rationale   TEXT    NOT NULL,
    decided_by  INTEGER NOT NULL REFERENCES users (id),
    decided_at  TEXT    NOT NULL,
    log_idx     INTEGER NOT NULL,
    leaf_hash   BLOB    NOT NULL,
    tree_size   INTEGER NOT NULL,
    root_hash   BLOB    NOT NULL
);

CREATE TABLE decision_responses (
    proposal_id INTEGER NOT NULL REFERENCES decisions (proposal_id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    response    TEXT    NOT NULL,
    PRIMARY KEY (proposal_id, user_id)
);

-- Operational tables (not part of the log) ---------------------------------

-- Single-use invitation links. Only a hash of the token is stored.
CREATE TABLE invitations (
    id          INTEGER PRIMARY KEY,
    team_id     INTEGER NOT NULL REFERENCES teams (id),
    token_hash  BLOB    NOT NULL UNIQUE,
    role        TEXT    NOT NULL CHECK (role IN ('admin', 'member', 'observer')),
    created_by  INTEGER NOT NULL REFERENCES users (id),
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    accepted_by INTEGER REFERENCES users (id),
    accepted_at TEXT
);
