-- Invitations say whom they were for and can be revoked (issue #20). The
-- address is the one the link was mailed to (none for a link copied by
-- hand); a revoked link stops working and says so. Re-sending gives the
-- invitation a new token (the old link stops working) and a new expiry.
ALTER TABLE invitations ADD COLUMN email TEXT;
ALTER TABLE invitations ADD COLUMN revoked_at TIMESTAMPTZ;
