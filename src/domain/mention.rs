//! `@name` mentions in proposal bodies and comments (issue #19). A name is
//! a member's display name without its spaces, or the local part of their
//! email address, in any case; a mention of anyone else stays plain text.

/// A member who can be mentioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mentionable {
    /// User id.
    pub user_id: i64,
    /// Display name.
    pub display_name: String,
    /// Email address.
    pub email: String,
}

impl Mentionable {
    /// Whether `name` (as typed after `@`, already lowercased) names them.
    fn is(&self, name: &str) -> bool {
        let local = self.email.split('@').next().unwrap_or_default();
        let squeezed: String = self
            .display_name
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        local.to_lowercase() == name || squeezed == name
    }
}

/// A character a mention's name may contain.
fn name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Every `@name` in `text`: byte range of the whole mention (with its
/// `@`) and the name, lowercased. An `@` after a letter or digit (an email
/// address) starts none, and a name does not end in `.` or `-`.
pub fn tokens(text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices('@') {
        if text[..at].chars().next_back().is_some_and(name_char) {
            continue;
        }
        let rest = &text[at + 1..];
        let mut len: usize = rest
            .char_indices()
            .find(|(_, c)| !name_char(*c))
            .map_or(rest.len(), |(i, _)| i);
        while len > 0 && rest[..len].ends_with(['.', '-']) {
            len -= 1;
        }
        if len == 0 {
            continue;
        }
        found.push((at..at + 1 + len, rest[..len].to_lowercase()));
    }
    found
}

/// The member a lowercased `name` names, if exactly one does.
pub fn resolve<'m>(name: &str, members: &'m [Mentionable]) -> Option<&'m Mentionable> {
    let mut matching = members.iter().filter(|m| m.is(name));
    let first = matching.next()?;
    matching.next().is_none().then_some(first)
}

/// The members `text` mentions, each once, in order of first mention.
pub fn mentioned(text: &str, members: &[Mentionable]) -> Vec<i64> {
    let mut ids = Vec::new();
    if !text.contains('@') {
        return ids;
    }
    for (_, name) in tokens(text) {
        if let Some(m) = resolve(&name, members)
            && !ids.contains(&m.user_id)
        {
            ids.push(m.user_id);
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<Mentionable> {
        vec![
            Mentionable {
                user_id: 1,
                display_name: "Ana Lopez".into(),
                email: "ana@example.com".into(),
            },
            Mentionable {
                user_id: 2,
                display_name: "Bob".into(),
                email: "robert.k@example.com".into(),
            },
        ]
    }

    #[test]
    fn names_are_display_names_without_spaces_or_email_local_parts() {
        let m = members();
        assert_eq!(mentioned("ping @ana and @AnaLopez, and @bob.", &m), [1, 2]);
        assert_eq!(mentioned("@robert.k: see above", &m), [2]);
        assert_eq!(
            mentioned("mail ana@example.com or @nobody", &m),
            Vec::<i64>::new()
        );
        assert_eq!(mentioned("no mention here", &m), Vec::<i64>::new());
    }

    #[test]
    fn a_token_covers_the_name_only() {
        let text = "Hi @Bob-, and (@ana).";
        let found = tokens(text);
        assert_eq!(found.len(), 2);
        assert_eq!(&text[found[0].0.clone()], "@Bob");
        assert_eq!(found[0].1, "bob");
        assert_eq!(&text[found[1].0.clone()], "@ana");
    }

    #[test]
    fn an_ambiguous_name_names_nobody() {
        let mut m = members();
        m.push(Mentionable {
            user_id: 3,
            display_name: "Bob".into(),
            email: "bob2@example.com".into(),
        });
        assert_eq!(resolve("bob", &m), None);
        assert_eq!(resolve("bob2", &m).map(|m| m.user_id), Some(3));
    }
}
