-- Accounts and access (issue #20): who is signed in where, and password
-- reset links. Operational, not part of the log.
--
-- A session row names its account, the browser (User-Agent) and client
-- address it was signed in from, and when it was last written (the
-- inactivity expiry is touched at most daily, so "last seen" is as fine as
-- a day). A password change or reset deletes the account's sessions by
-- user_id, on every instance at once. Sessions signed in before this
-- migration are given their account from their record.
ALTER TABLE sessions ADD COLUMN user_id BIGINT REFERENCES users (id);
ALTER TABLE sessions ADD COLUMN agent TEXT;
ALTER TABLE sessions ADD COLUMN address TEXT;
ALTER TABLE sessions ADD COLUMN seen_at BIGINT;              -- unix seconds
UPDATE sessions AS s
   SET user_id = u.id
  FROM users AS u
 WHERE u.id::text = (convert_from(s.data, 'UTF8')::jsonb -> 'data' ->> 'user_id');
CREATE INDEX sessions_user ON sessions (user_id);

-- A link to set a new password, mailed on request. Only a SHA-256 of its
-- token is kept (256 random bits); it works once, until expires_at, and
-- every link of the account goes once the password is set.
CREATE TABLE password_resets (
    token_hash BYTEA       PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX password_resets_user ON password_resets (user_id);
