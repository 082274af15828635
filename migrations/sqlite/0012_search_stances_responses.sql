-- Search finds stance reasons and responses to objections too (issue #17,
-- item 21): both are free text members write, and both were left out of
-- the index of 0008.
--
-- Two new kinds of document:
--   'stance'   a stance's reason, named by proposal id and the stance's
--              entry (log_idx); a stance without a reason (or whose reason
--              was erased) is not indexed at all;
--   'response' the decider's response to one member's objection, part of
--              the decision record, named by proposal id and the objecting
--              member (user_id, a new column; 0 for every other kind).
--
-- search_docs' CHECK on kind cannot be altered in SQLite, so the index is
-- built again here: the triggers of 0008, the view, the FTS5 table and
-- search_docs are dropped and created anew, with the same definitions for
-- proposals, decisions and comments as in 0008 (this file supersedes them)
-- and the two new kinds beside them. Nothing is lost: the index is derived
-- from the read tables and is rebuilt from them at the end.
--
-- Erasure works as in 0008: the projection deletes the team's rows and
-- inserts them again from the log, so the delete triggers remove an erased
-- reason's or response's tokens ('secure-delete': from the index pages at
-- once), and the re-inserted row, whose text is now empty, is not indexed.

DROP TRIGGER search_proposals_insert;
DROP TRIGGER search_proposals_update;
DROP TRIGGER search_proposals_delete;
DROP TRIGGER search_decisions_insert;
DROP TRIGGER search_decisions_update;
DROP TRIGGER search_decisions_delete;
DROP TRIGGER search_comments_insert;
DROP TRIGGER search_comments_update;
DROP TRIGGER search_comments_delete;
DROP VIEW search_text;
DROP TABLE search_fts;
DROP TABLE search_docs;

-- One row per searchable text; its id is the index's rowid.
CREATE TABLE search_docs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('proposal', 'decision', 'comment', 'stance', 'response')),
    proposal_id INTEGER NOT NULL,
    log_idx     INTEGER NOT NULL,           -- comments and stances: their entry; else 0
    user_id     INTEGER NOT NULL DEFAULT 0, -- responses: the member who objected; else 0
    UNIQUE (kind, proposal_id, log_idx, user_id)
);

-- The text of each document as the index sees it (title, body); every
-- lookup is by primary key.
CREATE VIEW search_text (id, title, body) AS
SELECT s.id,
       CASE s.kind WHEN 'proposal' THEN p.title ELSE '' END,
       CASE s.kind
           WHEN 'proposal' THEN p.body
           WHEN 'decision' THEN d.statement || char(10) || char(10) || d.rationale
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

CREATE VIRTUAL TABLE search_fts USING fts5 (
    title, body,
    content = 'search_text', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO search_fts (search_fts, rank) VALUES ('secure-delete', 1);

-- An external-content index must be told the exact old text on delete, so
-- every trigger passes the OLD values it indexed.

-- Proposals: title and current body (as in 0008).
CREATE TRIGGER search_proposals_insert AFTER INSERT ON proposals
BEGIN
    INSERT INTO search_docs (kind, proposal_id, log_idx) VALUES ('proposal', NEW.id, 0);
    INSERT INTO search_fts (rowid, title, body)
        SELECT id, NEW.title, NEW.body FROM search_docs
        WHERE kind = 'proposal' AND proposal_id = NEW.id AND log_idx = 0;
END;
CREATE TRIGGER search_proposals_update AFTER UPDATE OF title, body ON proposals
WHEN OLD.title IS NOT NEW.title OR OLD.body IS NOT NEW.body
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body)
        SELECT 'delete', id, OLD.title, OLD.body FROM search_docs
        WHERE kind = 'proposal' AND proposal_id = OLD.id AND log_idx = 0;
    INSERT INTO search_fts (rowid, title, body)
        SELECT id, NEW.title, NEW.body FROM search_docs
        WHERE kind = 'proposal' AND proposal_id = NEW.id AND log_idx = 0;
END;
CREATE TRIGGER search_proposals_delete AFTER DELETE ON proposals
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body)
        SELECT 'delete', id, OLD.title, OLD.body FROM search_docs
        WHERE kind = 'proposal' AND proposal_id = OLD.id AND log_idx = 0;
    DELETE FROM search_docs WHERE kind = 'proposal' AND proposal_id = OLD.id AND log_idx = 0;
END;

-- Decisions: statement and rationale (as in 0008).
CREATE TRIGGER search_decisions_insert AFTER INSERT ON decisions
BEGIN
    INSERT INTO search_docs (kind, proposal_id, log_idx) VALUES ('decision', NEW.proposal_id, 0);
    INSERT INTO search_fts (rowid, title, body)
        SELECT id, '', NEW.statement || char(10) || char(10) || NEW.rationale FROM search_docs
        WHERE kind = 'decision' AND proposal_id = NEW.proposal_id AND log_idx = 0;
END;
CREATE TRIGGER search_decisions_update AFTER UPDATE OF statement, rationale ON decisions
WHEN OLD.statement IS NOT NEW.statement OR OLD.rationale IS NOT NEW.rationale
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body)
        SELECT 'delete', id, '', OLD.statement || char(10) || char(10) || OLD.rationale FROM search_docs
        WHERE kind = 'decision' AND proposal_id = OLD.proposal_id AND log_idx = 0;
    INSERT INTO search_fts (rowid, title, body)
        SELECT id, '', NEW.statement || char(10) || char(10) || NEW.rationale FROM search_docs
        WHERE kind = 'decision' AND proposal_id = NEW.proposal_id AND log_idx = 0;
END;
CREATE TRIGGER search_decisions_delete AFTER DELETE ON decisions
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body)
        SELECT 'delete', id, '', OLD.statement || char(10) || char(10) || OLD.rationale FROM search_docs
        WHERE kind = 'decision' AND proposal_id = OLD.proposal_id AND log_idx = 0;
    DELETE FROM search_docs WHERE kind = 'decision' AND proposal_id = OLD.proposal_id AND log_idx = 0;
END;

-- Comments (as in 0008).
CREATE TRIGGER search_comments_insert AFTER INSERT ON comments
BEGIN
    INSERT INTO search_docs (kind, proposal_id, log_idx) VALUES ('comment', NEW.proposal_id, NEW.log_idx);
    INSERT INTO search_fts (rowid, title, body)
        SELECT id, '', NEW.body FROM search_docs
        WHERE kind = 'comment' AND proposal_id = NEW.proposal_id AND log_idx = NEW.log_idx;
END;
CREATE TRIGGER search_comments_update AFTER UPDATE OF body ON comments
WHEN OLD.body IS NOT NEW.body
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body)
        SELECT 'delete', id, '', OLD.body FROM search_docs
        WHERE kind = 'comment' AND proposal_id = OLD.proposal_id AND log_idx = OLD.log_idx;
    INSERT INTO search_fts (rowid, title, body)
        SELECT id, '', NEW.body FROM search_docs
        WHERE kind = 'comment' AND proposal_id = NEW.proposal_id AND log_idx = NEW.log_idx;
END;
CREATE TRIGGER search_comments_delete AFTER DELETE ON comments
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body)
        SELECT 'delete', id, '', OLD.body FROM search_docs
        WHERE kind = 'comment' AND proposal_id = OLD.proposal_id AND log_idx = OLD.log_idx;
    DELETE FROM search_docs WHERE kind = 'comment' AND proposal_id = OLD.proposal_id AND log_idx = OLD.log_idx;
END;

-- Stance reasons. Most stances have none: only a reason with text gets a
-- document, so the update trigger removes the old document, if any, and
-- adds a new one, if there is text.
CREATE TRIGGER search_stances_insert AFTER INSERT ON stances
WHEN coalesce(NEW.reason, '') <> ''
BEGIN
    INSERT INTO search_docs (kind, proposal_id, log_idx) VALUES ('stance', NEW.proposal_id, NEW.log_idx);
    INSERT INTO search_fts (rowid, title, body)
        SELECT id, '', NEW.reason FROM search_docs
        WHERE kind = 'stance' AND proposal_id = NEW.proposal_id AND log_idx = NEW.log_idx;
END;
CREATE TRIGGER search_stances_update AFTER UPDATE OF reason ON stances
WHEN OLD.reason IS NOT NEW.reason
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body)
        SELECT 'delete', id, '', OLD.reason FROM search_docs
        WHERE kind = 'stance' AND proposal_id = OLD.proposal_id AND log_idx = OLD.log_idx;
    DELETE FROM search_docs WHERE kind = 'stance' AND proposal_id = OLD.proposal_id AND log_idx = OLD.log_idx;
    INSERT INTO search_docs (kind, proposal_id, log_idx)
        SELECT 'stance', NEW.proposal_id, NEW.log_idx WHERE coalesce(NEW.reason, '') <> '';
    INSERT INTO search_fts (rowid, title, body)
        SELECT id, '', NEW.reason FROM search_docs
        WHERE kind = 'stance' AND proposal_id = NEW.proposal_id AND log_idx = NEW.log_idx;
END;
CREATE TRIGGER search_stances_delete AFTER DELETE ON stances
WHEN coalesce(OLD.reason, '') <> ''
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body)
        SELECT 'delete', id, '', OLD.reason FROM search_docs
        WHERE kind = 'stance' AND proposal_id = OLD.proposal_id AND log_idx = OLD.log_idx;
    DELETE FROM search_docs WHERE kind = 'stance' AND proposal_id = OLD.proposal_id AND log_idx = OLD.log_idx;
END;

-- Responses to objections (the same pattern; an erased response is empty).
CREATE TRIGGER search_responses_insert AFTER INSERT ON decision_responses
WHEN NEW.response <> ''
BEGIN
    INSERT INTO search_docs (kind, proposal_id, log_idx, user_id) VALUES ('response', NEW.proposal_id, 0, NEW.user_id);
    INSERT INTO search_fts (rowid, title, body)
        SELECT id, '', NEW.response FROM search_docs
        WHERE kind = 'response' AND proposal_id = NEW.proposal_id AND log_idx = 0 AND user_id = NEW.user_id;
END;
CREATE TRIGGER search_responses_update AFTER UPDATE OF response ON decision_responses
WHEN OLD.response IS NOT NEW.response
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body)
        SELECT 'delete', id, '', OLD.response FROM search_docs
        WHERE kind = 'response' AND proposal_id = OLD.proposal_id AND log_idx = 0 AND user_id = OLD.user_id;
    DELETE FROM search_docs WHERE kind = 'response' AND proposal_id = OLD.proposal_id AND log_idx = 0 AND user_id = OLD.user_id;
    INSERT INTO search_docs (kind, proposal_id, log_idx, user_id)
        SELECT 'response', NEW.proposal_id, 0, NEW.user_id WHERE NEW.response <> '';
    INSERT INTO search_fts (rowid, title, body)
        SELECT id, '', NEW.response FROM search_docs
        WHERE kind = 'response' AND proposal_id = NEW.proposal_id AND log_idx = 0 AND user_id = NEW.user_id;
END;
CREATE TRIGGER search_responses_delete AFTER DELETE ON decision_responses
WHEN OLD.response <> ''
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body)
        SELECT 'delete', id, '', OLD.response FROM search_docs
        WHERE kind = 'response' AND proposal_id = OLD.proposal_id AND log_idx = 0 AND user_id = OLD.user_id;
    DELETE FROM search_docs WHERE kind = 'response' AND proposal_id = OLD.proposal_id AND log_idx = 0 AND user_id = OLD.user_id;
END;

-- Index what is there, the new kinds included.
INSERT INTO search_docs (kind, proposal_id, log_idx) SELECT 'proposal', id, 0 FROM proposals;
INSERT INTO search_docs (kind, proposal_id, log_idx) SELECT 'decision', proposal_id, 0 FROM decisions;
INSERT INTO search_docs (kind, proposal_id, log_idx) SELECT 'comment', proposal_id, log_idx FROM comments;
INSERT INTO search_docs (kind, proposal_id, log_idx)
    SELECT 'stance', proposal_id, log_idx FROM stances WHERE coalesce(reason, '') <> '';
INSERT INTO search_docs (kind, proposal_id, log_idx, user_id)
    SELECT 'response', proposal_id, 0, user_id FROM decision_responses WHERE response <> '';
INSERT INTO search_fts (search_fts) VALUES ('rebuild');
