-- Who hears that someone mentioned them (@name) in a proposal or comment.
ALTER TABLE users ADD COLUMN notify_mentioned INTEGER NOT NULL DEFAULT 1;
