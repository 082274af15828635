-- Where a pull request mentioned a decision: in its own title or body
-- ('pr', undone when an edit removes the mention) or in a comment
-- ('comment', which stays).
ALTER TABLE pr_links ADD COLUMN via TEXT NOT NULL DEFAULT 'pr' CHECK (via IN ('pr', 'comment'));
