-- Search finds stance reasons and responses to objections too (issue #17,
-- item 21): both are free text members write, and both were left out of
-- the index of 0008.
--
-- Two new kinds of document, as in migrations/sqlite/0012:
--   'stance'   a stance's reason, named by proposal id and the stance's
--              entry (log_idx); a stance without a reason (or whose reason
--              was erased) is not indexed at all;
--   'response' the decider's response to one member's objection, part of
--              the decision record, named by proposal id and the objecting
--              member (user_id, a new column; 0 for every other kind).
--
-- SQLite builds its index again (its CHECK cannot be altered); here the
-- table is altered in place and the proposal, decision and comment
-- documents stay as they are. The constraints replaced carry the names
-- PostgreSQL gave them in 0008 (<table>_<column>_check, <table>_<columns>_key).
--
-- Erasure works as in 0008: the projection deletes the team's rows and
-- inserts them again from the log; the delete triggers drop an erased
-- reason's or response's document (its dead row version lingers until
-- VACUUM, see 0008), and the re-inserted row, whose text is now empty, is
-- not indexed.

ALTER TABLE search_docs DROP CONSTRAINT search_docs_kind_check;
ALTER TABLE search_docs ADD CONSTRAINT search_docs_kind_check
    CHECK (kind IN ('proposal', 'decision', 'comment', 'stance', 'response'));
ALTER TABLE search_docs ADD COLUMN user_id BIGINT NOT NULL DEFAULT 0; -- responses: the member who objected
ALTER TABLE search_docs DROP CONSTRAINT search_docs_kind_proposal_id_log_idx_key;
ALTER TABLE search_docs ADD CONSTRAINT search_docs_kind_proposal_id_log_idx_user_id_key
    UNIQUE (kind, proposal_id, log_idx, user_id);

-- The text of each document, as ts_headline reads it.
CREATE OR REPLACE VIEW search_text (id, title, body) AS
SELECT s.id,
       CASE s.kind WHEN 'proposal' THEN p.title ELSE '' END,
       CASE s.kind
           WHEN 'proposal' THEN p.body
           WHEN 'decision' THEN d.statement || E'\n\n' || d.rationale
           WHEN 'comment'  THEN c.body
           WHEN 'stance'   THEN coalesce(st.reason, '')
           ELSE r.response
       END
FROM search_docs s
LEFT JOIN proposals p ON s.kind = 'proposal' AND p.id = s.proposal_id
LEFT JOIN decisions d ON s.kind = 'decision' AND d.proposal_id = s.proposal_id
LEFT JOIN comments  c ON s.kind = 'comment' AND c.proposal_id = s.proposal_id AND c.log_idx = s.log_idx
LEFT JOIN stances  st ON s.kind = 'stance' AND st.proposal_id = s.proposal_id AND st.log_idx = s.log_idx
LEFT JOIN decision_responses r ON s.kind = 'response' AND r.proposal_id = s.proposal_id AND r.user_id = s.user_id;

-- Stance reasons. Most stances have none: only a reason with text gets a
-- document, so an update drops the old document, if any, and adds a new
-- one, if there is text.
CREATE FUNCTION search_stances_index() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM search_docs
        WHERE kind = 'stance' AND proposal_id = OLD.proposal_id AND log_idx = OLD.log_idx;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND coalesce(NEW.reason, '') <> '' THEN
        INSERT INTO search_docs (kind, proposal_id, log_idx, team_id, document)
        SELECT 'stance', NEW.proposal_id, NEW.log_idx, p.team_id, search_document('', NEW.reason)
        FROM proposals p WHERE p.id = NEW.proposal_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER search_stances_insert AFTER INSERT ON stances
    FOR EACH ROW EXECUTE FUNCTION search_stances_index();
CREATE TRIGGER search_stances_update AFTER UPDATE OF reason ON stances
    FOR EACH ROW
    WHEN (OLD.reason IS DISTINCT FROM NEW.reason)
    EXECUTE FUNCTION search_stances_index();
CREATE TRIGGER search_stances_delete AFTER DELETE ON stances
    FOR EACH ROW EXECUTE FUNCTION search_stances_index();

-- Responses to objections (the same pattern; an erased response is empty).
CREATE FUNCTION search_responses_index() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM search_docs
        WHERE kind = 'response' AND proposal_id = OLD.proposal_id AND log_idx = 0 AND user_id = OLD.user_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.response <> '' THEN
        INSERT INTO search_docs (kind, proposal_id, log_idx, user_id, team_id, document)
        SELECT 'response', NEW.proposal_id, 0, NEW.user_id, p.team_id, search_document('', NEW.response)
        FROM proposals p WHERE p.id = NEW.proposal_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER search_responses_insert AFTER INSERT ON decision_responses
    FOR EACH ROW EXECUTE FUNCTION search_responses_index();
CREATE TRIGGER search_responses_update AFTER UPDATE OF response ON decision_responses
    FOR EACH ROW
    WHEN (OLD.response IS DISTINCT FROM NEW.response)
    EXECUTE FUNCTION search_responses_index();
CREATE TRIGGER search_responses_delete AFTER DELETE ON decision_responses
    FOR EACH ROW EXECUTE FUNCTION search_responses_index();

-- Index the reasons and responses already there.
INSERT INTO search_docs (kind, proposal_id, log_idx, team_id, document)
SELECT 'stance', s.proposal_id, s.log_idx, p.team_id, search_document('', s.reason)
FROM stances s JOIN proposals p ON p.id = s.proposal_id
WHERE coalesce(s.reason, '') <> ''
ORDER BY s.proposal_id, s.log_idx;
INSERT INTO search_docs (kind, proposal_id, log_idx, user_id, team_id, document)
SELECT 'response', r.proposal_id, 0, r.user_id, p.team_id, search_document('', r.response)
FROM decision_responses r JOIN proposals p ON p.id = r.proposal_id
WHERE r.response <> ''
ORDER BY r.proposal_id, r.user_id;
