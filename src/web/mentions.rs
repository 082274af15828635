//! Whom a team's texts can mention (`@name`), where a mention links, and
//! the list the suggestions of `static/mention.js` take.

/// Whom a team's texts can mention, and where a mention links to.
#[derive(Debug, Clone)]
pub struct Mentions {
    team_id: i64,
    slug: String,
    members: Vec<crate::domain::mention::Mentionable>,
    /// Changes when the members do (part of the kept renderings' key).
    signature: i64,
}

impl Mentions {
    /// The members of `team`.
    pub fn new(team: &crate::db::teams::Team, members: &[crate::db::teams::Member]) -> Self {
        Self {
            team_id: team.id,
            slug: team.slug.clone(),
            signature: members.iter().fold(members.len() as i64, |s, m| {
                s.wrapping_mul(31).wrapping_add(m.user_id)
            }),
            members: members
                .iter()
                .map(crate::db::teams::Member::mentionable)
                .collect(),
        }
    }
}

impl Mentions {
    /// The members as the suggestion list of `static/mention.js` takes
    /// them: `[{"h": handle, "n": name}]`, the handle being the local part
    /// of the email address.
    pub fn suggestions(&self) -> String {
        let list: Vec<serde_json::Value> = self
            .members
            .iter()
            .map(|m| {
                serde_json::json!({
                    "h": m.email.split('@').next().unwrap_or_default(),
                    "n": m.display_name,
                })
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }
}

impl Mentions {
    /// What renderings with these members are kept under.
    pub fn key(&self) -> String {
        format!("{}:{}", self.team_id, self.signature)
    }

    /// The address and name of the member `name` (lowercased) mentions.
    pub fn link(&self, name: &str) -> Option<(String, String)> {
        crate::domain::mention::resolve(name, &self.members).map(|m| {
            (
                format!("/t/{}/settings#member-{}", self.slug, m.user_id),
                m.display_name.clone(),
            )
        })
    }
}
