-- No decision waits for ever (issue #19). A team decides within this many
-- days after a window ends (projection of `decision_period_set`); after
-- that its decider is reminded each local morning (`decision_overdue`),
-- and after as many days again the team's admins and the area's default
-- decider are told (`decision_escalated`). A new decider or window end
-- clears both marks.
ALTER TABLE teams ADD COLUMN decide_within_days INTEGER NOT NULL DEFAULT 7;
ALTER TABLE proposals ADD COLUMN overdue_told_at TEXT;
ALTER TABLE proposals ADD COLUMN escalated_at TEXT;
-- Who hears that a proposal of their team waits too long for its decision.
ALTER TABLE users ADD COLUMN notify_overdue INTEGER NOT NULL DEFAULT 1;
