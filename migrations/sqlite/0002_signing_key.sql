-- The instance's Ed25519 key for signing checkpoints (C2SP signed notes).
-- Created on first start. Whoever can read the database can sign as this
-- instance, so protect the database file as you would the key; members who
-- keep checkpoints can still detect any rewritten history.
CREATE TABLE signing_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    name       TEXT    NOT NULL,  -- key name, also the prefix of every log origin
    seed       BLOB    NOT NULL,  -- 32-byte Ed25519 seed
    created_at TEXT    NOT NULL
);
