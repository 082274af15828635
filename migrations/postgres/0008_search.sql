-- Full-text search (issue #8): proposal titles and bodies, decision
-- statements and rationales, comments, and (for "who decides") areas.
--
-- How this maps to the SQLite version (migrations/sqlite/0008_search.sql):
--
-- * SQLite keeps an FTS5 index with *external content* (`search_fts`) beside
--   `search_docs`, which names the documents. Here `search_docs` is the same
--   table (same columns, same UNIQUE (kind, proposal_id, log_idx)) plus two
--   columns that replace the FTS5 table: `document`, a tsvector of the text
--   with a GIN index, and `team_id`, the proposal's team, so a search can be
--   scoped by team without reaching the proposals table first. A search
--   joins search_docs directly where SQLite joins `search_fts` on rowid.
-- * Ranking: FTS5's bm25(search_fts, 10.0, 1.0) weighs the title column ten
--   times the body. Here the title's lexemes get weight A and the body's
--   weight D, and ts_rank's default weights {D, C, B, A} = {0.1, 0.2, 0.4,
--   1.0} give exactly that 10:1 ratio. Areas (bm25(areas_fts, 5.0, 1.0)):
--   name A, description C, 1.0:0.2 = 5:1. ts_rank is higher-is-better while
--   bm25 is lower-is-better, and ts_rank returns real (FLOAT4): a query that
--   keeps `ORDER BY score` ascending and decodes an f64 selects
--   `-ts_rank(...)::float8 AS score`.
-- * Tokenizer `porter unicode61 remove_diacritics 2` -> text search
--   configuration `settled_search`: the default parser; words pass through
--   `unaccent` (accents folded: "decision" finds "Décision") and then an
--   English Snowball stemmer ("deploying" finds "deploy") with *no stop-word
--   list*, since FTS5's porter tokenizer drops no words either. Known
--   differences: Snowball English is Porter's successor (a few words stem
--   differently); the parser keeps e-mail addresses, URLs, host names, file
--   paths and version numbers as whole tokens where unicode61 splits them
--   into words; and the title and body are one tsvector, so a phrase could
--   match across the end of a title and the start of its body.
-- * Snippets and highlights: FTS5 reads the text back from the external
--   content (`search_text`) for snippet() and highlight(). The same view is
--   kept here, so the query side passes the same text to ts_headline:
--     highlight(search_fts, 0, ...)         -> ts_headline('settled_search', t.title, q,
--                                                 'StartSel=<U+E000>, StopSel=<U+E001>, HighlightAll=true')
--     snippet(search_fts, 1, ..., '…', 24)  -> ts_headline('settled_search', t.body, q,
--                                                 'StartSel=<U+E000>, StopSel=<U+E001>, MaxWords=24,
--                                                  MinWords=12, ShortWord=0, MaxFragments=1')
--   (build the marks with chr(57344) and chr(57345); ts_headline adds no
--   '…' where it cuts the text, the caller adds it if wanted).
-- * Queries: `search_fts MATCH $1` -> `s.document @@ q` with q a tsquery
--   built by to_tsquery('settled_search', $1) from an expression the app
--   writes itself: every term single-quoted (quotes and backslashes doubled),
--   `&` for AND, `|` for OR, `!` for NOT, `:*` for a prefix; a quoted
--   multi-word term becomes a phrase (`<->`). to_tsquery passes each quoted
--   term through the same configuration (unaccent, stemming).
--   A ranked, team-scoped search, for example:
--     SELECT s.kind, s.proposal_id, s.log_idx,
--            ts_headline('settled_search', t.title, q, ...) AS title,
--            ts_headline('settled_search', t.body, q, ...) AS snippet,
--            ts_rank(s.document, q) AS rank
--     FROM to_tsquery('settled_search', $1) AS q,
--          search_docs s JOIN search_text t ON t.id = s.id
--     WHERE s.document @@ q AND s.team_id = ANY ($2)
--     ORDER BY rank DESC;
-- * Maintenance: SQL triggers on the same read tables (proposals,
--   decisions, comments, areas), with the same names as the SQLite ones
--   (`search_<table>_<insert|update|delete>`), so the ledger's projection
--   knows nothing about search and whatever changes a row (a new comment, a
--   revision, the re-projection that follows an erasure) changes the index
--   in the same transaction. PostgreSQL needs no old text on delete (a
--   tsvector row is simply updated or deleted), so no trigger passes OLD
--   values as the FTS5 ones must.
-- * Erasure and 'secure-delete': the projection blanks an erased text by
--   deleting the team's rows and inserting them again from the log; the
--   delete triggers delete the old documents and the insert triggers index
--   the blanked rows. FTS5's 'secure-delete' removes the old tokens from the
--   index pages at once; PostgreSQL has no equivalent: the dead row versions
--   (and their GIN entries) stay on disk until VACUUM (autovacuum) reclaims
--   them, and in WAL and backups until recycled (see 0001).
--
-- None of this is part of the log or of what `settled verify` compares
-- (src/db/snapshot.rs lists the compared tables): it is derived from the read
-- tables and can be rebuilt from them at any time (the equivalent of FTS5's
-- 'rebuild') with
--   UPDATE search_docs s SET document = search_document(t.title, t.body)
--     FROM search_text t WHERE t.id = s.id;
--   UPDATE areas_search x SET document = search_area_document(a.name, a.description)
--     FROM areas a WHERE a.id = x.area_id;

-- Accent folding. unaccent is a contrib extension marked trusted, so the
-- database owner may create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS unaccent;

-- English Snowball stemming without a stop-word list (no StopWords option).
CREATE TEXT SEARCH DICTIONARY settled_stem (
    TEMPLATE = pg_catalog.snowball,
    LANGUAGE = english
);

-- Every token type of the default parser is indexed (lower-cased, as by
-- `simple`); words are also unaccented and stemmed.
CREATE TEXT SEARCH CONFIGURATION settled_search (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION settled_search
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart
    WITH settled_stem;
ALTER TEXT SEARCH CONFIGURATION settled_search
    ALTER MAPPING FOR word, hword, hword_part
    WITH unaccent, settled_stem;
ALTER TEXT SEARCH CONFIGURATION settled_search
    ALTER MAPPING FOR numword, numhword, hword_numpart
    WITH unaccent, simple;

-- The indexed form of a document: title weight A, body weight D (10:1 with
-- ts_rank's default weights, like bm25(search_fts, 10.0, 1.0)).
CREATE FUNCTION search_document(title TEXT, body TEXT) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('settled_search'::regconfig, title), 'A')
        || setweight(to_tsvector('settled_search'::regconfig, body), 'D')
$$;

-- An area: name weight A, description weight C (5:1, like
-- bm25(areas_fts, 5.0, 1.0)).
CREATE FUNCTION search_area_document(name TEXT, description TEXT) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('settled_search'::regconfig, name), 'A')
        || setweight(to_tsvector('settled_search'::regconfig, description), 'C')
$$;

-- One row per searchable text. Proposals and decisions are named by
-- proposal id, comments by proposal id and entry. No foreign keys: rows
-- leave with their source row, by trigger.
CREATE TABLE search_docs (
    id          BIGINT   GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind        TEXT     NOT NULL CHECK (kind IN ('proposal', 'decision', 'comment')),
    proposal_id BIGINT   NOT NULL,
    log_idx     BIGINT   NOT NULL,          -- comments: their entry; proposals and decisions: 0
    team_id     BIGINT   NOT NULL,          -- the proposal's team (PostgreSQL only: scoping)
    document    tsvector NOT NULL,          -- search_document(title, body) of search_text (PostgreSQL only)
    UNIQUE (kind, proposal_id, log_idx)
);
CREATE INDEX search_docs_document ON search_docs USING gin (document);
CREATE INDEX search_docs_team ON search_docs (team_id);

-- The text of each document, as the index sees it: two columns, so titles
-- can weigh more than bodies in the ranking. A decision's statement and
-- rationale form its body (the proposal's title is indexed once, with the
-- proposal). Every lookup is by primary key. ts_headline reads the text
-- from here.
CREATE VIEW search_text (id, title, body) AS
SELECT s.id,
       CASE s.kind WHEN 'proposal' THEN p.title ELSE '' END,
       CASE s.kind
           WHEN 'proposal' THEN p.body
           WHEN 'decision' THEN d.statement || E'\n\n' || d.rationale
           ELSE c.body
       END
FROM search_docs s
LEFT JOIN proposals p ON s.kind = 'proposal' AND p.id = s.proposal_id
LEFT JOIN decisions d ON s.kind = 'decision' AND d.proposal_id = s.proposal_id
LEFT JOIN comments  c ON s.kind = 'comment' AND c.proposal_id = s.proposal_id AND c.log_idx = s.log_idx;

-- Proposals: title and current body (a revision updates the body).
CREATE FUNCTION search_proposals_index() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO search_docs (kind, proposal_id, log_idx, team_id, document)
        VALUES ('proposal', NEW.id, 0, NEW.team_id, search_document(NEW.title, NEW.body));
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE search_docs
        SET document = search_document(NEW.title, NEW.body), team_id = NEW.team_id
        WHERE kind = 'proposal' AND proposal_id = NEW.id AND log_idx = 0;
    ELSE
        DELETE FROM search_docs WHERE kind = 'proposal' AND proposal_id = OLD.id AND log_idx = 0;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER search_proposals_insert AFTER INSERT ON proposals
    FOR EACH ROW EXECUTE FUNCTION search_proposals_index();
CREATE TRIGGER search_proposals_update AFTER UPDATE OF title, body ON proposals
    FOR EACH ROW
    WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.body IS DISTINCT FROM NEW.body)
    EXECUTE FUNCTION search_proposals_index();
CREATE TRIGGER search_proposals_delete AFTER DELETE ON proposals
    FOR EACH ROW EXECUTE FUNCTION search_proposals_index();

-- Decisions: statement and rationale (immutable, but re-projected after an
-- erasure).
CREATE FUNCTION search_decisions_index() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO search_docs (kind, proposal_id, log_idx, team_id, document)
        SELECT 'decision', NEW.proposal_id, 0, p.team_id,
               search_document('', NEW.statement || E'\n\n' || NEW.rationale)
        FROM proposals p WHERE p.id = NEW.proposal_id;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE search_docs
        SET document = search_document('', NEW.statement || E'\n\n' || NEW.rationale)
        WHERE kind = 'decision' AND proposal_id = NEW.proposal_id AND log_idx = 0;
    ELSE
        DELETE FROM search_docs WHERE kind = 'decision' AND proposal_id = OLD.proposal_id AND log_idx = 0;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER search_decisions_insert AFTER INSERT ON decisions
    FOR EACH ROW EXECUTE FUNCTION search_decisions_index();
CREATE TRIGGER search_decisions_update AFTER UPDATE OF statement, rationale ON decisions
    FOR EACH ROW
    WHEN (OLD.statement IS DISTINCT FROM NEW.statement OR OLD.rationale IS DISTINCT FROM NEW.rationale)
    EXECUTE FUNCTION search_decisions_index();
CREATE TRIGGER search_decisions_delete AFTER DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION search_decisions_index();

-- Comments.
CREATE FUNCTION search_comments_index() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO search_docs (kind, proposal_id, log_idx, team_id, document)
        SELECT 'comment', NEW.proposal_id, NEW.log_idx, p.team_id, search_document('', NEW.body)
        FROM proposals p WHERE p.id = NEW.proposal_id;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE search_docs
        SET document = search_document('', NEW.body)
        WHERE kind = 'comment' AND proposal_id = NEW.proposal_id AND log_idx = NEW.log_idx;
    ELSE
        DELETE FROM search_docs WHERE kind = 'comment' AND proposal_id = OLD.proposal_id AND log_idx = OLD.log_idx;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER search_comments_insert AFTER INSERT ON comments
    FOR EACH ROW EXECUTE FUNCTION search_comments_index();
CREATE TRIGGER search_comments_update AFTER UPDATE OF body ON comments
    FOR EACH ROW
    WHEN (OLD.body IS DISTINCT FROM NEW.body)
    EXECUTE FUNCTION search_comments_index();
CREATE TRIGGER search_comments_delete AFTER DELETE ON comments
    FOR EACH ROW EXECUTE FUNCTION search_comments_index();

-- Areas (name and description), for the "who decides" box of the areas
-- page: the counterpart of `areas_fts`, one row per area (area_id is the
-- area's id, like areas_fts.rowid), scoped by team. A separate table rather
-- than a column of `areas`, so the projected table keeps the same columns
-- on both backends.
CREATE TABLE areas_search (
    area_id  BIGINT   PRIMARY KEY,
    team_id  BIGINT   NOT NULL,
    document tsvector NOT NULL             -- search_area_document(name, description)
);
CREATE INDEX areas_search_document ON areas_search USING gin (document);
CREATE INDEX areas_search_team ON areas_search (team_id);

CREATE FUNCTION search_areas_index() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO areas_search (area_id, team_id, document)
        VALUES (NEW.id, NEW.team_id, search_area_document(NEW.name, NEW.description));
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE areas_search
        SET document = search_area_document(NEW.name, NEW.description), team_id = NEW.team_id
        WHERE area_id = NEW.id;
    ELSE
        DELETE FROM areas_search WHERE area_id = OLD.id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER search_areas_insert AFTER INSERT ON areas
    FOR EACH ROW EXECUTE FUNCTION search_areas_index();
CREATE TRIGGER search_areas_update AFTER UPDATE OF name, description ON areas
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.description IS DISTINCT FROM NEW.description)
    EXECUTE FUNCTION search_areas_index();
CREATE TRIGGER search_areas_delete AFTER DELETE ON areas
    FOR EACH ROW EXECUTE FUNCTION search_areas_index();

-- Index what is already there.
INSERT INTO search_docs (kind, proposal_id, log_idx, team_id, document)
SELECT 'proposal', id, 0, team_id, search_document(title, body)
FROM proposals ORDER BY id;
INSERT INTO search_docs (kind, proposal_id, log_idx, team_id, document)
SELECT 'decision', d.proposal_id, 0, p.team_id,
       search_document('', d.statement || E'\n\n' || d.rationale)
FROM decisions d JOIN proposals p ON p.id = d.proposal_id ORDER BY d.proposal_id;
INSERT INTO search_docs (kind, proposal_id, log_idx, team_id, document)
SELECT 'comment', c.proposal_id, c.log_idx, p.team_id, search_document('', c.body)
FROM comments c JOIN proposals p ON p.id = c.proposal_id ORDER BY c.proposal_id, c.log_idx;
INSERT INTO areas_search (area_id, team_id, document)
SELECT id, team_id, search_area_document(name, description) FROM areas;
