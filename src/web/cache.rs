//! Every in-memory cache of the app, in one place, with one kept-value type
//! ([`Kept`]) and one validity rule. Each cache forgets what a committed
//! change makes untrue by subscribing to the change bus (`ledger::bus`):
//! [`Caches`] is a bus subscriber, called in the writer's task before the
//! write is acknowledged, so a writer's next page never shows what it
//! changed as it was. No handler invalidates anything.
//!
//! | cache | holds | forgotten on | kept on |
//! |---|---|---|---|
//! | `sessions` | session records by id | [`Change::Session`] (saved or deleted) | SQLite |
//! | `users` | signed-in users' rows | [`Change::User`] (profile, password, mail settings) | SQLite |
//! | `members` | a member's team, role and the log size then, by team key or slug | any entry of the team (its log grows) | SQLite |
//! | `pages` | a proposal page's rows (and their rendered parts) | any entry of the team; anyone's profile; an erasure | both |
//! | `dashboards` | a team's open and recently decided proposals | any entry of the team; anyone's profile; an erasure | both |
//! | `logs` | a team's decision log, unfiltered | any entry of the team; anyone's profile; an erasure | both |
//! | [`RENDERED`] | Markdown rendered and sanitised, by source text | an erasure (of any team) | both |
//!
//! The one validity rule: a kept value is served while it is younger than
//! its cache's time to live and, if it belongs to a team, while that team's
//! log is at the size it was read at, as far as this process knows. This
//! process knows a team's size from the bus (every entry committed by this
//! instance at once, by another instance through PostgreSQL's NOTIFY) and
//! from every size it reads from the database ([`Caches::saw_log_size`]).
//! A read that raced with an invalidation is not kept.
//!
//! Why the split by backend: a SQLite file is served by one server, whose
//! writer is its only writer, so what it has not heard of on its bus has
//! not happened. Several instances share a PostgreSQL database; there a
//! sign-out or a password change on one must hold on all at once, so
//! sessions, users and memberships are read every time. Page rows are kept
//! on both: a page reads its team's log size from the database first, and
//! rows read at an older size are not served. Changes made by another
//! process on the machine (the command line) show within the time to live.
//!
//! Not a cache of stored state, and so not here: the health check keeps its
//! last answer for a second (`web::health`), and the rate limiters count
//! requests (`web::auth`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tower_sessions::session::{Id, Record};

use super::html::Html;
use super::rows::{LogRows, PageRows, TeamRows};
use crate::db::Db;
use crate::db::teams::Membership;
use crate::db::users::User;
use crate::error::Result;
use crate::ledger::bus::{Change, Subscriber, UserPart};

/// How long a row read from the database is trusted at most: how soon a
/// change made by another process (the command line) shows.
pub const ROW_TTL: Duration = Duration::from_secs(60);

/// How long page rows are trusted at most: display names live outside
/// the log, and another instance may rename someone.
pub const PAGE_TTL: Duration = Duration::from_secs(30);

/// A team as a page names it (`true`: by key, else by slug) and a user.
pub type MemberKey = (bool, String, i64);

/// Each team's log size as far as this process knows (sizes only grow).
#[derive(Debug, Default)]
pub struct LogSizes(Mutex<HashMap<i64, i64>>);

impl LogSizes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, i64>> {
        // Sizes only grow; whatever a panicking holder left is still true.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The team's size as known.
    pub fn get(&self, team_id: i64) -> Option<i64> {
        self.lock().get(&team_id).copied()
    }

    /// A size read or heard of (an older one never lowers what is known).
    pub fn saw(&self, team_id: i64, size: i64) {
        let mut sizes = self.lock();
        let known = sizes.entry(team_id).or_default();
        *known = (*known).max(size);
    }
}

/// A kept value with what it is valid for.
#[derive(Clone)]
pub struct Held<V> {
    value: V,
    /// `(team, log size)` it was read at, if it belongs to a team.
    team: Option<(i64, i64)>,
    at: Instant,
}

/// Counts each kept value as one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unit;

impl<K, V> quick_cache::Weighter<K, Held<V>> for Unit {
    fn weight(&self, _: &K, _: &Held<V>) -> u64 {
        1
    }
}

/// Weighs a rendering by the bytes it holds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bytes;

impl quick_cache::Weighter<String, Held<Html>> for Bytes {
    fn weight(&self, source: &String, html: &Held<Html>) -> u64 {
        (source.len() + html.value.len() + 64) as u64
    }
}

/// Values by key, served under the module's validity rule.
pub struct Kept<K, V, W = Unit> {
    rows: quick_cache::sync::Cache<K, Held<V>, W>,
    /// Bumped by every invalidation; a read is kept only if none came in
    /// between (checked and inserted under this lock).
    version: Mutex<u64>,
    ttl: Duration,
    sizes: Arc<LogSizes>,
}

impl<K, V, W> std::fmt::Debug for Kept<K, V, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Where a read started (see [`Kept::keep`]).
#[derive(Debug, Clone, Copy)]
pub struct Version(u64);

impl<K, V> Kept<K, V, Unit>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// At most `capacity` values, each for at most `ttl`.
    fn new(capacity: usize, ttl: Duration, sizes: &Arc<LogSizes>) -> Self {
        Self::weighted(capacity, capacity as u64, ttl, Unit, sizes)
    }
}

impl<K, V, W> Kept<K, V, W>
where
    K: Eq + Hash + Clone,
    V: Clone,
    W: quick_cache::Weighter<K, Held<V>> + Clone,
{
    fn weighted(
        capacity: usize,
        weight: u64,
        ttl: Duration,
        weighter: W,
        sizes: &Arc<LogSizes>,
    ) -> Self {
        Self {
            rows: quick_cache::sync::Cache::with_weighter(capacity, weight, weighter),
            version: Mutex::new(0),
            ttl,
            sizes: sizes.clone(),
        }
    }

    fn version_lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // The counter stays valid whatever a panicking holder did.
        self.version.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value, if kept and still valid.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        let held = self.rows.get(key)?;
        let fresh = held.at.elapsed() < self.ttl
            && held
                .team
                .is_none_or(|(team, size)| self.sizes.get(team) == Some(size));
        fresh.then_some(held.value)
    }

    /// Call before reading a value from the database.
    pub fn version(&self) -> Version {
        Version(*self.version_lock())
    }

    /// Keeps `value`, read since `version` (at `team`'s log size, if it
    /// belongs to a team), unless an invalidation came in between.
    pub fn keep(&self, key: K, value: V, team: Option<(i64, i64)>, version: Version) {
        let current = self.version_lock();
        if *current == version.0 {
            self.rows.insert(
                key,
                Held {
                    value,
                    team,
                    at: Instant::now(),
                },
            );
        }
    }

    fn forget(&self, key: &K) {
        let mut current = self.version_lock();
        *current += 1;
        self.rows.remove(key);
    }

    /// Forgets every value (tests; subscriptions).
    pub(super) fn clear(&self) {
        let mut current = self.version_lock();
        *current += 1;
        self.rows.clear();
    }
}

/// Rendered Markdown by source text (up to 16 MiB): rendering and
/// sanitising is the costliest part of a proposal page, and a text always
/// renders the same. A global, so that any page can render through
/// [`markdown`]; [`Caches`] clears it on an erasure.
pub static RENDERED: LazyLock<Kept<String, Html, Bytes>> = LazyLock::new(|| {
    Kept::weighted(
        16_384,
        16 << 20,
        Duration::MAX,
        Bytes,
        &Arc::new(LogSizes::default()),
    )
});

/// Markdown rendered and sanitised ([`Html::markdown`]), kept in
/// [`RENDERED`]: how every page renders user text.
pub fn markdown(source: &str) -> Html {
    if let Some(html) = RENDERED.get(source) {
        return html;
    }
    let version = RENDERED.version();
    let html = Html::markdown(source);
    RENDERED.keep(source.to_string(), html.clone(), None, version);
    html
}

/// Markdown as [`markdown`] renders it, with mentions of `mentions`'
/// members linked to them (kept per team and members).
pub fn markdown_in(source: &str, mentions: &super::mentions::Mentions) -> Html {
    if !source.contains('@') {
        return markdown(source);
    }
    let key = format!("\u{0}{}\u{0}{source}", mentions.key());
    if let Some(html) = RENDERED.get(&key) {
        return html;
    }
    let version = RENDERED.version();
    let html = Html::markdown_mentioning(source, &|name| mentions.link(name));
    RENDERED.keep(key, html.clone(), None, version);
    html
}

/// Dashboard visits kept in memory before the map starts afresh.
const SEEN_KEPT: usize = 100_000;

/// Every cache (see the module). Attach it to the bus once.
#[derive(Debug)]
pub struct Caches {
    sizes: Arc<LogSizes>,
    /// Session records (SQLite).
    pub sessions: Option<Kept<Id, Record>>,
    /// Signed-in users' rows (SQLite).
    pub users: Option<Kept<i64, User>>,
    /// Members' teams and roles (SQLite).
    pub members: Option<Kept<MemberKey, Membership>>,
    /// Proposal pages' rows by (team, number).
    pub pages: Kept<(i64, i64), Arc<PageRows>>,
    /// Dashboards' rows by team.
    pub dashboards: Kept<i64, Arc<TeamRows>>,
    /// Decision logs' rows by team.
    pub logs: Kept<i64, Arc<LogRows>>,
    /// The team log size each (user, team) dashboard visit last noted: a
    /// visit at a size already noted needs no query. Sizes only grow, so a
    /// value here is never ahead of the database, on any instance.
    seen: std::sync::Mutex<HashMap<(i64, i64), i64>>,
}

impl Caches {
    /// The caches for a server that is its database's only writer
    /// (`sole_writer`: SQLite) or one of several (PostgreSQL).
    pub fn new(sole_writer: bool) -> Self {
        let sizes = Arc::new(LogSizes::default());
        Self {
            sessions: sole_writer.then(|| Kept::new(10_000, ROW_TTL, &sizes)),
            users: sole_writer.then(|| Kept::new(10_000, ROW_TTL, &sizes)),
            members: sole_writer.then(|| Kept::new(10_000, ROW_TTL, &sizes)),
            pages: Kept::new(512, PAGE_TTL, &sizes),
            dashboards: Kept::new(256, PAGE_TTL, &sizes),
            logs: Kept::new(256, PAGE_TTL, &sizes),
            seen: std::sync::Mutex::default(),
            sizes,
        }
    }

    /// Whether `user` has already been noted seeing `team`'s log at `size`.
    pub fn has_seen(&self, user: i64, team: i64, size: i64) -> bool {
        self.seen
            .lock()
            .is_ok_and(|seen| seen.get(&(user, team)).is_some_and(|s| *s >= size))
    }

    /// Notes that `user` saw `team`'s log at `size`.
    pub fn note_seen(&self, user: i64, team: i64, size: i64) {
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() >= SEEN_KEPT {
                seen.clear();
            }
            let at = seen.entry((user, team)).or_insert(size);
            *at = (*at).max(size);
        }
    }

    /// A team's log size read from the database: values read at an older
    /// size are no longer served.
    pub fn saw_log_size(&self, team_id: i64, size: i64) {
        self.sizes.saw(team_id, size);
    }

    /// The rows of proposal `number` of `team_id`, whose log has
    /// `log_size` entries now.
    pub async fn page_rows(
        &self,
        db: &Db,
        team_id: i64,
        number: i64,
        log_size: i64,
    ) -> Result<Arc<PageRows>> {
        self.rows(&self.pages, (team_id, number), team_id, log_size, || {
            PageRows::load(db, team_id, number)
        })
        .await
    }

    /// The dashboard rows of `team_id`, whose log has `log_size` entries now.
    pub async fn dashboard_rows(
        &self,
        db: &Db,
        team_id: i64,
        log_size: i64,
    ) -> Result<Arc<TeamRows>> {
        self.rows(&self.dashboards, team_id, team_id, log_size, || {
            TeamRows::load(db, team_id)
        })
        .await
    }

    /// The unfiltered decision log rows of `team_id`, whose log has
    /// `log_size` entries now.
    pub async fn log_rows(&self, db: &Db, team_id: i64, log_size: i64) -> Result<Arc<LogRows>> {
        self.rows(&self.logs, team_id, team_id, log_size, || {
            LogRows::load(db, team_id)
        })
        .await
    }

    async fn rows<K, V, F>(
        &self,
        kept: &Kept<K, Arc<V>>,
        key: K,
        team_id: i64,
        log_size: i64,
        load: impl FnOnce() -> F,
    ) -> Result<Arc<V>>
    where
        K: Eq + Hash + Clone,
        F: std::future::Future<Output = Result<V>>,
    {
        self.saw_log_size(team_id, log_size);
        if let Some(rows) = kept.get(&key) {
            return Ok(rows);
        }
        let version = kept.version();
        let rows = Arc::new(load().await?);
        kept.keep(key, rows.clone(), Some((team_id, log_size)), version);
        Ok(rows)
    }

    /// Forgets every kept value: another process (an operator's `settled`
    /// command on the same SQLite file) wrote to the database, so this
    /// server is not its only writer for a moment. See
    /// [`crate::startup`]'s watch of SQLite's `data_version`.
    pub fn forget_all(&self) {
        if let Some(sessions) = &self.sessions {
            sessions.clear();
        }
        if let Some(users) = &self.users {
            users.clear();
        }
        if let Some(members) = &self.members {
            members.clear();
        }
        self.forget_pages();
    }

    fn forget_pages(&self) {
        self.pages.clear();
        self.dashboards.clear();
        self.logs.clear();
    }
}

impl Subscriber for Caches {
    fn changed(&self, changes: &[Change]) {
        for change in changes {
            match change {
                // Every team-keyed value read at an older size is stale now.
                Change::Entry(notice) => {
                    self.sizes.saw(notice.team_id, notice.index + 1);
                    if notice.kind.erases_text() {
                        // The erased text must not linger in memory.
                        RENDERED.clear();
                        self.forget_pages();
                    }
                }
                Change::User { user, part } => {
                    if let Some(users) = &self.users {
                        users.forget(user);
                    }
                    match part {
                        // Names show on other people's pages.
                        UserPart::Profile => self.forget_pages(),
                        UserPart::Password | UserPart::MailSettings => {}
                    }
                }
                Change::Session { id } => {
                    if let Some(sessions) = &self.sessions {
                        sessions.forget(&Id(*id));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::teams::Team;
    use crate::domain::team::Role;
    use crate::ledger::bus::{EntryKind, Notice};

    fn entry(team_id: i64, index: i64, kind: EntryKind) -> Change {
        Change::Entry(Notice {
            team_id,
            index,
            kind,
            proposal: None,
        })
    }

    fn profile(user: i64) -> Change {
        Change::User {
            user,
            part: UserPart::Profile,
        }
    }

    fn team(id: i64) -> Team {
        Team {
            id,
            slug: format!("t{id}"),
            key: format!("T{id}"),
            name: format!("Team {id}"),
            window_hours: 72,
            created_at: crate::db::Timestamp(chrono::Utc::now()),
            created_by: 1,
            decide_within_days: 7,
        }
    }

    fn user(id: i64) -> User {
        User {
            id,
            email: "ada@example.com".into(),
            display_name: "Ada".into(),
            time_zone: chrono_tz::UTC,
            is_admin: false,
        }
    }

    #[test]
    fn a_read_that_raced_with_an_invalidation_is_not_kept() {
        let caches = Caches::new(true);
        let Some(users) = &caches.users else {
            panic!("kept on a sole writer");
        };
        let user = user(1);
        let before = users.version();
        // A profile change commits while the read is under way.
        caches.changed(&[profile(1)]);
        users.keep(1, user.clone(), None, before);
        assert!(users.get(&1).is_none(), "the stale read is dropped");
        users.keep(1, user, None, users.version());
        assert!(users.get(&1).is_some());
    }

    #[test]
    fn values_expire() {
        let sizes = Arc::new(LogSizes::default());
        let kept: Kept<i64, &str> = Kept::new(4, Duration::ZERO, &sizes);
        kept.keep(1, "row", None, kept.version());
        assert_eq!(kept.get(&1), None);
    }

    #[test]
    fn sessions_are_forgotten_when_saved_or_deleted() {
        let caches = Caches::new(true);
        let sessions = caches.sessions.as_ref().expect("kept on SQLite");
        let record = Record {
            id: Id(7),
            data: Default::default(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::days(1),
        };
        sessions.keep(record.id, record.clone(), None, sessions.version());
        assert!(sessions.get(&Id(7)).is_some());
        caches.changed(&[Change::Session { id: 8 }]);
        assert!(sessions.get(&Id(7)).is_some(), "another session's change");
        caches.changed(&[Change::Session { id: 7 }]);
        assert!(sessions.get(&Id(7)).is_none());
        assert!(
            Caches::new(false).sessions.is_none(),
            "PostgreSQL keeps none"
        );
    }

    #[test]
    fn users_are_forgotten_when_they_change_their_settings() {
        let caches = Caches::new(true);
        let users = caches.users.as_ref().expect("kept on SQLite");
        let user = user(1);
        for part in [
            UserPart::Profile,
            UserPart::Password,
            UserPart::MailSettings,
        ] {
            users.keep(1, user.clone(), None, users.version());
            caches.changed(&[Change::User { user: 2, part }]);
            assert!(users.get(&1).is_some(), "another user's change");
            caches.changed(&[Change::User { user: 1, part }]);
            assert!(users.get(&1).is_none(), "{part:?} kept");
        }
    }

    #[test]
    fn memberships_hold_while_their_team_log_does_not_grow() {
        let caches = Caches::new(true);
        let members = caches.members.as_ref().expect("kept on SQLite");
        let key = (false, "t1".to_string(), 5);
        let membership = Membership {
            team: team(1),
            role: Role::Member,
            log_size: 10,
        };
        caches.saw_log_size(1, 10);
        members.keep(
            key.clone(),
            membership.clone(),
            Some((1, 10)),
            members.version(),
        );
        assert!(members.get(&key).is_some());
        caches.changed(&[entry(2, 30, EntryKind::MemberRemoved)]);
        assert!(members.get(&key).is_some(), "another team's entry");
        caches.changed(&[entry(1, 10, EntryKind::MemberRemoved)]);
        assert!(members.get(&key).is_none(), "the team's log grew");
    }

    /// Team-keyed rows of `kept`, read at the team's log size, go when the
    /// log grows, when anyone's name changes and on any erasure.
    /// What team 1's kept rows under `key` must go with: the team's log
    /// growing, anyone's profile, any erasure, a larger size read.
    fn rows_go<K, V>(caches: &Caches, kept: &Kept<K, Arc<V>>, key: K, value: impl Fn() -> V)
    where
        K: Eq + Hash + Clone,
    {
        let keep = |size: i64| {
            kept.keep(
                key.clone(),
                Arc::new(value()),
                Some((1, size)),
                kept.version(),
            );
        };
        caches.saw_log_size(1, 4);
        keep(4);
        assert!(kept.get(&key).is_some());
        caches.changed(&[entry(2, 9, EntryKind::StanceTaken)]);
        assert!(kept.get(&key).is_some(), "another team's entry");
        caches.changed(&[entry(1, 4, EntryKind::StanceTaken)]);
        assert!(kept.get(&key).is_none(), "the team's log grew");

        keep(5);
        assert!(kept.get(&key).is_some());
        caches.changed(&[profile(9)]);
        assert!(kept.get(&key).is_none(), "a name changed");

        keep(5);
        caches.changed(&[entry(2, 10, EntryKind::ContentErased)]);
        assert!(kept.get(&key).is_none(), "an erasure");

        keep(5);
        caches.saw_log_size(1, 6);
        assert!(
            kept.get(&key).is_none(),
            "a larger size read from the database"
        );
    }

    #[test]
    fn proposal_pages_go_with_entries_profiles_and_erasures() {
        let caches = Caches::new(false);
        rows_go(&caches, &caches.pages, (1, 7), || {
            PageRows::empty(proposal(1, 7))
        });
    }

    fn proposal(team_id: i64, number: i64) -> crate::db::proposals::Proposal {
        let now = crate::db::Timestamp(chrono::Utc::now());
        crate::db::proposals::Proposal {
            id: number,
            team_id,
            number,
            title: "Kept".into(),
            body: "Kept rows.".into(),
            area_id: None,
            area_name: None,
            author_id: 1,
            author_name: "Ana".into(),
            decider_id: 1,
            decider_name: "Ana".into(),
            created_at: now,
            closes_at: now,
            status: crate::domain::proposal::Status::Open,
            withdrawn_reason: None,
            supersedes: None,
            superseded_by: None,
            ready_at: None,
            overdue_told_at: None,
            escalated_at: None,
        }
    }

    #[test]
    fn dashboards_go_with_entries_profiles_and_erasures() {
        let caches = Caches::new(false);
        rows_go(&caches, &caches.dashboards, 1, TeamRows::default);
    }

    #[test]
    fn decision_logs_go_with_entries_profiles_and_erasures() {
        let caches = Caches::new(false);
        rows_go(&caches, &caches.logs, 1, LogRows::default);
    }

    #[test]
    fn renderings_go_with_an_erasure() {
        let caches = Caches::new(false);
        let source = "rendering kept until an erasure (cache test)";
        // Rendered the way every page renders user text.
        let html = markdown(source);
        assert_eq!(RENDERED.get(source), Some(html.clone()));
        assert_eq!(
            html,
            Html::markdown(source),
            "a kept rendering is the rendering"
        );
        caches.changed(&[entry(1, 3, EntryKind::CommentAdded)]);
        assert!(RENDERED.get(source).is_some(), "not an erasure");
        caches.changed(&[entry(1, 4, EntryKind::ContentErased)]);
        assert!(RENDERED.get(source).is_none());
    }
}
