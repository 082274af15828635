-- Who hears that someone mentioned them (@name) in a proposal or comment.
ALTER TABLE users ADD COLUMN notify_mentioned BOOLEAN NOT NULL DEFAULT TRUE;
