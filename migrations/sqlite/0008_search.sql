-- Full-text search (issue #8): proposal titles and bodies, decision
-- statements and rationales, comments, and (for "who decides") areas.
--
-- The index is SQLite FTS5 with *external content*: it holds only the
-- tokens, and reads the text itself from the read tables when a result is
-- shown (snippets, highlights). SQL triggers on the read tables keep it in
-- step, so the ledger's projection code knows nothing about search, and
-- whatever changes a row (a new comment, a revision, the re-projection that
-- follows an erasure) changes the index in the same transaction.
--
-- Erasure: the projection blanks an erased text by deleting the team's rows
-- and inserting them again from the log; the delete triggers remove the old
-- text's tokens ('secure-delete' below removes them from the index pages at
-- once instead of leaving delete markers until the next merge), the insert
-- triggers index the blanked row.
--
-- None of this is part of the log or of what `settled verify` compares
-- (src/db/snapshot.rs lists the compared tables): it is derived from the read
-- tables and can be rebuilt from them at any time with
--   INSERT INTO search_fts (search_fts) VALUES ('rebuild');
--   INSERT INTO areas_fts (areas_fts) VALUES ('rebuild');

-- One row per searchable text. Its id is the index's rowid; proposals and
-- decisions are named by proposal id, comments by proposal id and entry.
-- No foreign keys: rows leave with their source row, by trigger.
CREATE TABLE search_docs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('proposal', 'decision', 'comment')),
    proposal_id INTEGER NOT NULL,
    log_idx     INTEGER NOT NULL,           -- comments: their entry; proposals and decisions: 0
    UNIQUE (kind, proposal_id, log_idx)
);

-- The text of each document, as the index sees it: two columns, so titles
-- can weigh more than bodies in the ranking. A decision's statement and
-- rationale form its body (the proposal's title is indexed once, with the
-- proposal). Every lookup is by primary key.
CREATE VIEW search_text (id, title, body) AS
SELECT s.id,
       CASE s.kind WHEN 'proposal' THEN p.title ELSE '' END,
       CASE s.kind
           WHEN 'proposal' THEN p.body
           WHEN 'decision' THEN d.statement || char(10) || char(10) || d.rationale
           ELSE c.body
       END
FROM search_docs s
LEFT JOIN proposals p ON s.kind = 'proposal' AND p.id = s.proposal_id
LEFT JOIN decisions d ON s.kind = 'decision' AND d.proposal_id = s.proposal_id
LEFT JOIN comments  c ON s.kind = 'comment' AND c.proposal_id = s.proposal_id AND c.log_idx = s.log_idx;

-- Porter stemming over Unicode words, accents folded: "deploying" finds
-- "deploy", "decision" finds "Décision".
CREATE VIRTUAL TABLE search_fts USING fts5 (
    title, body,
    content = 'search_text', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO search_fts (search_fts, rank) VALUES ('secure-delete', 1);

-- An external-content index must be told the exact old text on delete, so
-- every trigger passes the OLD values it indexed.

-- Proposals: title and current body (a revision updates the body).
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

-- Decisions: statement and rationale (immutable, but re-projected after an
-- erasure).
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

-- Comments.
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

-- Areas (name and description), for the "who decides" box of the areas
-- page. `areas` has an integer primary key, so it is the content table.
CREATE VIRTUAL TABLE areas_fts USING fts5 (
    name, description,
    content = 'areas', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO areas_fts (areas_fts, rank) VALUES ('secure-delete', 1);

CREATE TRIGGER search_areas_insert AFTER INSERT ON areas
BEGIN
    INSERT INTO areas_fts (rowid, name, description) VALUES (NEW.id, NEW.name, NEW.description);
END;
CREATE TRIGGER search_areas_update AFTER UPDATE OF name, description ON areas
WHEN OLD.name IS NOT NEW.name OR OLD.description IS NOT NEW.description
BEGIN
    INSERT INTO areas_fts (areas_fts, rowid, name, description) VALUES ('delete', OLD.id, OLD.name, OLD.description);
    INSERT INTO areas_fts (rowid, name, description) VALUES (NEW.id, NEW.name, NEW.description);
END;
CREATE TRIGGER search_areas_delete AFTER DELETE ON areas
BEGIN
    INSERT INTO areas_fts (areas_fts, rowid, name, description) VALUES ('delete', OLD.id, OLD.name, OLD.description);
END;

-- Index what is already there.
INSERT INTO search_docs (kind, proposal_id, log_idx) SELECT 'proposal', id, 0 FROM proposals;
INSERT INTO search_docs (kind, proposal_id, log_idx) SELECT 'decision', proposal_id, 0 FROM decisions;
INSERT INTO search_docs (kind, proposal_id, log_idx) SELECT 'comment', proposal_id, log_idx FROM comments;
INSERT INTO search_fts (search_fts) VALUES ('rebuild');
INSERT INTO areas_fts (areas_fts) VALUES ('rebuild');
