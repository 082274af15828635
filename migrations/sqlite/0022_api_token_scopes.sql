-- Personal API tokens made and revoked by their owner (issue #20): a token
-- reads only, or reads and writes, and may expire. Tokens made before this
-- migration keep what they could do: read and write, never expiring.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'write'));
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);
