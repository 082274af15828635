//! Full-text search over the read tables (FTS5 or tsvector, migrations 0008
//! and 0012): what a member may find across their teams, and the "who
//! decides" lookup of an areas page.
//!
//! User input never reaches FTS5 as syntax: [`MatchQuery::parse`] turns it
//! into quoted phrases joined by operators it writes itself, so no input can
//! cause a syntax error. The index and its triggers live in the migration;
//! nothing here writes.

use crate::on;
use std::fmt;

use sqlx::FromRow;

use super::{Ex, Timestamp};
use crate::domain::proposal::{Outcome, Status};

/// Marks the start of a matched term in snippets and highlights (a Unicode
/// private-use character, so the text can be escaped first and the marks
/// turned into `<mark>` afterwards).
pub const MARK_START: char = '\u{E000}';
/// Marks the end of a matched term.
pub const MARK_END: char = '\u{E001}';

/// Longest input considered (characters); the rest is ignored.
pub const MAX_INPUT: usize = 200;
/// Most terms considered; more make a query slow and rarely match anything.
pub const MAX_TERMS: usize = 12;

/// One term of a query: a word or a quoted phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The text as typed (without quotes or operators).
    pub text: String,
    /// `word*`: any word beginning with it.
    pub prefix: bool,
}

impl Term {
    /// The term as a PostgreSQL tsquery operand: single-quoted (inner quotes
    /// and backslashes doubled), so nothing in it is syntax; a quoted text
    /// of several words becomes a phrase.
    fn tsquery(&self) -> String {
        let quoted = format!("'{}'", self.text.replace('\\', "\\\\").replace('\'', "''"));
        if self.prefix { quoted + ":*" } else { quoted }
    }

    /// The term as an FTS5 string: double-quoted (inner quotes doubled), so
    /// nothing in it is syntax.
    fn fts(&self) -> String {
        let quoted = format!("\"{}\"", self.text.replace('"', "\"\""));
        if self.prefix { quoted + "*" } else { quoted }
    }
}

/// A parsed search: every group must match (a group is one term or several
/// joined by `OR`), and no excluded term may.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchQuery {
    /// Terms that must match; inner vectors are alternatives (`OR`).
    pub groups: Vec<Vec<Term>>,
    /// Terms that must not match (`-word`).
    pub excluded: Vec<Term>,
    /// Whether part of the input was dropped (too long, too many terms).
    pub truncated: bool,
}

impl MatchQuery {
    /// Reads what a person typed. Understood: words (all must match),
    /// `"exact phrases"`, `word*` (prefix), `a OR b`, `-word` or `NOT word`
    /// (exclude); `AND` is implied. Everything else is text: parentheses,
    /// `:`, `^` or `NEAR` are not FTS5 syntax here, and words with no letter
    /// or digit are dropped.
    pub fn parse(input: &str) -> Self {
        let mut truncated = input.chars().count() > MAX_INPUT;
        // Control characters (a NUL would end FTS5's reading of the
        // expression mid-string) separate words like spaces do.
        let input: String = input
            .chars()
            .take(MAX_INPUT)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let mut query = Self::default();
        let mut or_pending = false;
        let mut exclude_next = false;
        let mut count = 0;
        for (raw, quoted) in tokens(&input) {
            if !quoted {
                match raw.as_str() {
                    "OR" => {
                        or_pending = !query.groups.is_empty();
                        continue;
                    }
                    "AND" => continue,
                    // `NOT x` and `-"a phrase"`.
                    "NOT" | "-" => {
                        exclude_next = true;
                        continue;
                    }
                    _ => {}
                }
            }
            let (excluded, rest) = match raw.strip_prefix('-') {
                Some(rest) if !quoted => (true, rest),
                _ => (std::mem::take(&mut exclude_next), raw.as_str()),
            };
            let (prefix, rest) = match rest.strip_suffix('*') {
                Some(rest) => (true, rest),
                None => (false, rest),
            };
            // Operators and brackets around a word are punctuation: the
            // tokenizer would drop them anyway.
            let text = if quoted {
                rest.trim().to_string()
            } else {
                rest.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_string()
            };
            if !text.chars().any(char::is_alphanumeric) {
                continue;
            }
            if count == MAX_TERMS {
                truncated = true;
                break;
            }
            count += 1;
            let term = Term { text, prefix };
            if excluded {
                query.excluded.push(term);
            } else if or_pending {
                if let Some(last) = query.groups.last_mut() {
                    last.push(term);
                }
            } else {
                query.groups.push(vec![term]);
            }
            or_pending = false;
        }
        query.truncated = truncated;
        query
    }

    /// Whether there is anything to look for (excluded terms alone find
    /// nothing).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The FTS5 expression, or `None` if there is nothing to look for.
    pub fn expression(&self) -> Option<String> {
        self.written(Term::fts, " OR ", " AND ", ") NOT ")
    }

    /// The PostgreSQL `to_tsquery` text, or `None` if there is nothing to
    /// look for.
    pub fn tsquery(&self) -> Option<String> {
        self.written(Term::tsquery, " | ", " & ", ") & !")
    }

    /// The expression for the backend `ex` runs on: FTS5's for SQLite, a
    /// `to_tsquery` text for PostgreSQL; `None` if there is nothing to look for.
    pub fn expression_for(&self, ex: &Ex<'_>) -> Option<String> {
        if ex.is_pg() {
            self.tsquery()
        } else {
            self.expression()
        }
    }

    /// The query in one syntax: each term as `term` writes it, alternatives
    /// joined by `or`, groups by `and`, each exclusion after `) not`.
    fn written(&self, term: fn(&Term) -> String, or: &str, and: &str, not: &str) -> Option<String> {
        if self.groups.is_empty() {
            return None;
        }
        let groups: Vec<String> = self
            .groups
            .iter()
            .map(|g| {
                let alternatives: Vec<String> = g.iter().map(term).collect();
                format!("({})", alternatives.join(or))
            })
            .collect();
        let mut expression = groups.join(and);
        for excluded in &self.excluded {
            expression = format!("({expression}{not}{}", term(excluded));
        }
        Some(expression)
    }

    /// The query written back in the syntax it was read with, cleaned (for
    /// "searched for" lines and suggestions).
    pub fn display(&self) -> String {
        let show = |t: &Term| {
            let text = if t.text.contains(char::is_whitespace) {
                format!("\"{}\"", t.text)
            } else {
                t.text.clone()
            };
            if t.prefix { text + "*" } else { text }
        };
        let mut parts: Vec<String> = self
            .groups
            .iter()
            .map(|g| g.iter().map(show).collect::<Vec<_>>().join(" OR "))
            .collect();
        parts.extend(self.excluded.iter().map(|t| format!("-{}", show(t))));
        parts.join(" ")
    }
}

/// Splits input into words and quoted phrases (an unclosed quote runs to
/// the end). The flag says whether the piece was quoted.
fn tokens(input: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let phrase: String = chars.by_ref().take_while(|&c| c != '"').collect();
            // `"phrase"*` keeps its star.
            let star = chars.next_if_eq(&'*').is_some();
            out.push((if star { phrase + "*" } else { phrase }, true));
        } else {
            let mut word = String::new();
            while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '"') {
                word.push(c);
            }
            out.push((word, false));
        }
    }
    out
}

/// Which date a date range applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DateField {
    /// When the proposal was opened.
    #[default]
    Created,
    /// When the decision was recorded (undecided proposals never match).
    Decided,
}

impl DateField {
    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Decided => "decided",
        }
    }
}

/// What to look in, beyond the text. `None` means any.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The viewer: only teams they currently belong to are searched.
    pub user_id: i64,
    /// Only this team (slug).
    pub team: Option<String>,
    /// Only this area.
    pub area: Option<i64>,
    /// Only proposals with this status.
    pub status: Option<String>,
    /// Only proposals this user decides (or decided).
    pub decider: Option<i64>,
    /// Which date `from` and `to` apply to.
    pub date: DateField,
    /// From this instant (inclusive).
    pub from: Option<Timestamp>,
    /// Before this instant (exclusive).
    pub to: Option<Timestamp>,
}

/// What a search document is (`search_docs.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocKind {
    /// A proposal's title and body.
    Proposal,
    /// A decision record's statement and rationale.
    Decision,
    /// A comment.
    Comment,
    /// A stance's reason.
    Stance,
    /// A response to an objection, in the decision record.
    Response,
}

impl DocKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::Proposal,
        Self::Decision,
        Self::Comment,
        Self::Stance,
        Self::Response,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposal => "proposal",
            Self::Decision => "decision",
            Self::Comment => "comment",
            Self::Stance => "stance",
            Self::Response => "response",
        }
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One match.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct Hit {
    /// What matched.
    pub kind: DocKind,
    /// Team key (for `KEY-N`).
    pub team_key: String,
    /// Team name.
    pub team_name: String,
    /// Proposal number.
    pub number: i64,
    /// The proposal's title, with marks where it matched (proposals only).
    pub title: String,
    /// Proposal status.
    pub status: Status,
    /// Area name.
    pub area_name: Option<String>,
    /// Decider's name.
    pub decider_name: String,
    /// The comment's or stance's entry (comments, stances), else 0.
    pub log_idx: i64,
    /// Who wrote the comment or took the stance; for a response, who
    /// objected (the decider wrote the response).
    pub author_name: Option<String>,
    /// Some words around the best match, with marks.
    pub snippet: String,
    /// When the proposal was opened.
    pub created_at: Timestamp,
    /// When it was decided, if it was.
    pub decided_at: Option<Timestamp>,
    /// bm25 rank (lower is better).
    pub score: f64,
}

/// Documents matching `expression` (from [`MatchQuery::expression`]) in the
/// viewer's current teams, best first: bm25 with titles weighing ten times
/// more than bodies.
pub async fn search(
    mut ex: Ex<'_>,
    expression: &str,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Hit>, sqlx::Error> {
    const LITE: &str = "SELECT s.kind, t.key AS team_key, t.name AS team_name, p.number,
                CASE s.kind WHEN 'proposal' THEN highlight(search_fts, 0, char(57344), char(57345)) ELSE p.title END AS title,
                p.status, a.name AS area_name, de.display_name AS decider_name, s.log_idx,
                au.display_name AS author_name,
                snippet(search_fts, 1, char(57344), char(57345), '…', 24) AS snippet,
                p.created_at, d.decided_at, bm25(search_fts, 10.0, 1.0) AS score
         FROM search_fts
         JOIN search_docs s ON s.id = search_fts.rowid";
    // ts_rank is higher-is-better: negated, so both order by score ascending.
    const PG: &str = "SELECT s.kind, t.key AS team_key, t.name AS team_name, p.number,
                CASE s.kind WHEN 'proposal'
                     THEN ts_headline('settled_search', x.title, q,
                                      'StartSel=' || chr(57344) || ', StopSel=' || chr(57345) || ', HighlightAll=true')
                     ELSE p.title END AS title,
                p.status, a.name AS area_name, de.display_name AS decider_name, s.log_idx,
                au.display_name AS author_name,
                ts_headline('settled_search', x.body, q,
                            'StartSel=' || chr(57344) || ', StopSel=' || chr(57345)
                            || ', MaxWords=24, MinWords=12, ShortWord=0') AS snippet,
                p.created_at, d.decided_at, (-ts_rank(s.document, q))::float8 AS score
         FROM to_tsquery('settled_search', $1) AS q
         CROSS JOIN search_docs s
         JOIN search_text x ON x.id = s.id";
    const REST: &str = "
         JOIN proposals p ON p.id = s.proposal_id
         JOIN memberships m ON m.team_id = p.team_id AND m.user_id = $2 AND m.removed_at IS NULL
         JOIN teams t ON t.id = p.team_id
         JOIN users de ON de.id = p.decider_id
         LEFT JOIN areas a ON a.id = p.area_id
         LEFT JOIN decisions d ON d.proposal_id = p.id
         LEFT JOIN comments c ON s.kind = 'comment' AND c.proposal_id = s.proposal_id AND c.log_idx = s.log_idx
         LEFT JOIN stances st ON s.kind = 'stance' AND st.proposal_id = s.proposal_id AND st.log_idx = s.log_idx
         LEFT JOIN users au ON au.id = CASE s.kind WHEN 'comment' THEN c.author_id
                                                   WHEN 'stance' THEN st.user_id
                                                   WHEN 'response' THEN s.user_id END
         WHERE MATCHES
           AND ($3 IS NULL OR t.slug = $3)
           AND ($4 IS NULL OR p.area_id = $4)
           AND ($5 IS NULL OR p.status = $5)
           AND ($6 IS NULL OR p.decider_id = $6)
           AND ($7 IS NULL OR (CASE $8 WHEN 'decided' THEN d.decided_at ELSE p.created_at END) >= $7)
           AND ($9 IS NULL OR (CASE $8 WHEN 'decided' THEN d.decided_at ELSE p.created_at END) < $9)
         ORDER BY score, t.key, p.number, s.log_idx, s.id
         LIMIT $10 OFFSET $11";
    let sql = if ex.is_pg() {
        format!("{PG}{}", REST.replace("MATCHES", "s.document @@ q"))
    } else {
        format!("{LITE}{}", REST.replace("MATCHES", "search_fts MATCH $1"))
    };
    on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(expression)
            .bind(filter.user_id)
            .bind(filter.team.as_deref())
            .bind(filter.area)
            .bind(filter.status.as_deref())
            .bind(filter.decider)
            .bind(filter.from)
            .bind(filter.date.as_str())
            .bind(filter.to)
            .bind(limit)
            .bind(offset)
            .fetch_all(c)
            .await
    })
}

/// An area as a filter choice.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct AreaChoice {
    /// Area id.
    pub id: i64,
    /// Area name.
    pub name: String,
    /// Its team.
    pub team_id: i64,
    /// Its team's name.
    pub team_name: String,
}

/// The areas of the viewer's current teams, by team and name.
pub async fn area_choices(mut ex: Ex<'_>, user_id: i64) -> Result<Vec<AreaChoice>, sqlx::Error> {
    on!(ex, |c| sqlx::query_as(
        "SELECT a.id, a.name, a.team_id, t.name AS team_name FROM areas a
         JOIN memberships m ON m.team_id = a.team_id AND m.user_id = $1 AND m.removed_at IS NULL
         JOIN teams t ON t.id = a.team_id
         ORDER BY t.name, t.id, a.name",
    )
    .bind(user_id)
    .fetch_all(c)
    .await)
}

/// Everyone who decides or decided a proposal in the viewer's current
/// teams, by name: `(user id, name)`.
pub async fn decider_choices(
    mut ex: Ex<'_>,
    user_id: i64,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    on!(ex, |c| {
        sqlx::query_as(
        "SELECT u.id, u.display_name FROM users u
         WHERE u.id IN (SELECT p.decider_id FROM proposals p
                        JOIN memberships m ON m.team_id = p.team_id AND m.user_id = $1 AND m.removed_at IS NULL)
         ORDER BY u.display_name, u.id",
    )
    .bind(user_id)
    .fetch_all(c)
    .await
    })
}

/// An area matching a "who decides" question.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct AreaMatch {
    /// Area id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Its default decider.
    pub decider_name: String,
}

/// Areas of `team_id` whose name or description matches, best first (the
/// name weighs more).
pub async fn matching_areas(
    mut ex: Ex<'_>,
    team_id: i64,
    expression: &str,
    limit: i64,
) -> Result<Vec<AreaMatch>, sqlx::Error> {
    let sql = if ex.is_pg() {
        "SELECT a.id, a.name, a.description, u.display_name AS decider_name
         FROM to_tsquery('settled_search', $1) AS q
         CROSS JOIN areas_search x
         JOIN areas a ON a.id = x.area_id
         JOIN users u ON u.id = a.default_decider_id
         WHERE x.document @@ q AND x.team_id = $2
         ORDER BY ts_rank(x.document, q) DESC, a.name
         LIMIT $3"
    } else {
        "SELECT a.id, a.name, a.description, u.display_name AS decider_name
         FROM areas_fts
         JOIN areas a ON a.id = areas_fts.rowid
         JOIN users u ON u.id = a.default_decider_id
         WHERE areas_fts MATCH $1 AND a.team_id = $2
         ORDER BY bm25(areas_fts, 5.0, 1.0), a.name
         LIMIT $3"
    };
    on!(ex, |c| sqlx::query_as(sql)
        .bind(expression)
        .bind(team_id)
        .bind(limit)
        .fetch_all(c)
        .await)
}

/// A past decision matching a "who decides" question.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct DecisionMatch {
    /// Proposal number.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Accepted or rejected.
    pub outcome: Outcome,
    /// Current status (an accepted decision may since be superseded).
    pub status: Status,
    /// Area name.
    pub area_name: Option<String>,
    /// Who decided.
    pub decider_name: String,
    /// Whether they have left the team since.
    pub decider_left: bool,
    /// When.
    pub decided_at: Timestamp,
}

/// Decided proposals of `team_id` whose title, body, statement or rationale
/// matches, best match first, one row per proposal.
pub async fn matching_decisions(
    mut ex: Ex<'_>,
    team_id: i64,
    expression: &str,
    limit: i64,
) -> Result<Vec<DecisionMatch>, sqlx::Error> {
    // bm25() cannot be aggregated directly: rank the matches first.
    let ranked = if ex.is_pg() {
        "SELECT s.id, (-ts_rank(s.document, q))::float8 AS score
         FROM to_tsquery('settled_search', $1) AS q CROSS JOIN search_docs s
         WHERE s.document @@ q AND s.team_id = $2"
    } else {
        "SELECT rowid AS id, bm25(search_fts, 10.0, 1.0) AS score FROM search_fts WHERE search_fts MATCH $1"
    };
    let sql = format!(
        "WITH ranked AS MATERIALIZED ({ranked})
         SELECT p.number, p.title, d.outcome, p.status, a.name AS area_name,
                u.display_name AS decider_name,
                (m.user_id IS NULL OR m.removed_at IS NOT NULL) AS decider_left,
                d.decided_at
         FROM ranked r
         JOIN search_docs s ON s.id = r.id AND s.kind IN ('proposal', 'decision')
         JOIN proposals p ON p.id = s.proposal_id AND p.team_id = $2
         JOIN decisions d ON d.proposal_id = p.id
         JOIN users u ON u.id = d.decided_by
         LEFT JOIN memberships m ON m.team_id = p.team_id AND m.user_id = d.decided_by
         LEFT JOIN areas a ON a.id = p.area_id
         GROUP BY p.id, d.proposal_id, u.id, m.team_id, m.user_id, a.id
         ORDER BY MIN(r.score), d.decided_at DESC
         LIMIT $3"
    );
    on!(ex, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(expression)
            .bind(team_id)
            .bind(limit)
            .fetch_all(c)
            .await
    })
}

super::decode::text_column!(DocKind, "search document kind");

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(input: &str) -> Option<String> {
        MatchQuery::parse(input).expression()
    }

    #[test]
    fn words_are_quoted_and_all_required() {
        assert_eq!(
            expr("deploy friday").as_deref(),
            Some("(\"deploy\") AND (\"friday\")")
        );
    }

    #[test]
    fn syntax_is_read_as_text() {
        assert_eq!(
            expr("NEAR(a b) title:x ^y").as_deref(),
            Some("(\"NEAR(a\") AND (\"b\") AND (\"title:x\") AND (\"y\")")
        );
        assert_eq!(expr("AND OR NOT"), None);
        assert_eq!(
            expr("a\u{0}b").as_deref(),
            Some("(\"a\") AND (\"b\")"),
            "no NUL reaches FTS5"
        );
        assert_eq!(expr("((( *** --- \"\" )))"), None);
        assert_eq!(expr("say \"hi"), Some("(\"say\") AND (\"hi\")".into()));
        assert_eq!(
            expr("a\"b"),
            Some("(\"a\") AND (\"b\")".into()),
            "a quote splits"
        );
    }

    #[test]
    fn phrases_prefixes_alternatives_and_exclusions() {
        assert_eq!(
            expr("\"exact phrase\" dep* rust OR go -java").as_deref(),
            Some("((\"exact phrase\") AND (\"dep\"*) AND (\"rust\" OR \"go\")) NOT \"java\"")
        );
        assert_eq!(expr("-java"), None, "exclusions alone find nothing");
        assert_eq!(
            expr("rust NOT go -\"big data\"").as_deref(),
            Some("(((\"rust\")) NOT \"go\") NOT \"big data\"")
        );
        assert_eq!(expr("OR rust").as_deref(), Some("(\"rust\")"));
    }

    #[test]
    fn the_postgresql_form_quotes_every_term_too() {
        let q = MatchQuery::parse("\"exact phrase\" dep* rust OR go -java it's");
        assert_eq!(
            q.tsquery().as_deref(),
            Some("(('exact phrase') & ('dep':*) & ('rust' | 'go') & ('it''s')) & !'java'")
        );
        assert_eq!(MatchQuery::parse("-java").tsquery(), None);
        assert_eq!(
            MatchQuery::parse("back\\slash").tsquery().as_deref(),
            Some("('back\\\\slash')")
        );
    }

    #[test]
    fn long_input_is_cut() {
        let q = MatchQuery::parse(&"word ".repeat(100));
        assert!(q.truncated);
        assert_eq!(q.groups.len(), MAX_TERMS);
        let q = MatchQuery::parse(&"x".repeat(5_000));
        assert!(q.truncated);
        assert_eq!(q.groups[0][0].text.len(), MAX_INPUT);
    }

    #[test]
    fn display_round_trips() {
        let q = MatchQuery::parse("  \"exact  phrase\" dep*  (rust) OR go -java ");
        assert_eq!(q.display(), "\"exact  phrase\" dep* rust OR go -java");
    }
}
