//! What mail a member gets: the kinds of mail they can turn off, one by one
//! (mail settings, signed unsubscribe links). The links themselves are
//! signed in `mail::unsubscribe`; the setting each scope clears is stored by
//! `db::users::unsubscribe`.

/// A kind of mail a member can turn off; in an unsubscribe link, the `s`
/// parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Mails about proposals you decide: "you were named decider" and
    /// "ready for your decision".
    Decider,
    /// "A proposal was decided" and "withdrawn" mails.
    Decided,
    /// "A proposal opened" mails, and its decider or deadline changes.
    Opened,
    /// Deadline reminders.
    Reminder,
    /// "Overdue" reminders and escalations.
    Overdue,
    /// "You were mentioned".
    Mentioned,
    /// Digests.
    Digest,
}

impl Scope {
    /// The name in links; part of every link already mailed, so it must
    /// not change.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decider => "decider",
            Self::Decided => "decided",
            Self::Opened => "opened",
            Self::Reminder => "reminder",
            Self::Overdue => "overdue",
            Self::Mentioned => "mentioned",
            Self::Digest => "digest",
        }
    }

    /// What the member stops getting, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Decider => "mail about the proposals you decide",
            Self::Decided => "mail when a proposal of your team is decided or withdrawn",
            Self::Opened => {
                "mail when a proposal of your team opens, or changes its decider or deadline"
            }
            Self::Reminder => "reminders a day before a deadline you have not answered",
            Self::Overdue => "mail when a proposal of your team waits too long for its decision",
            Self::Mentioned => "mail when someone mentions you",
            Self::Digest => "digests",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "decider" => Ok(Self::Decider),
            "decided" => Ok(Self::Decided),
            "opened" => Ok(Self::Opened),
            "reminder" => Ok(Self::Reminder),
            "overdue" => Ok(Self::Overdue),
            "mentioned" => Ok(Self::Mentioned),
            "digest" => Ok(Self::Digest),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_reads_back_from_its_name() {
        for scope in [
            Scope::Decider,
            Scope::Decided,
            Scope::Opened,
            Scope::Reminder,
            Scope::Overdue,
            Scope::Mentioned,
            Scope::Digest,
        ] {
            assert_eq!(scope.as_str().parse(), Ok(scope));
        }
        assert_eq!("all".parse::<Scope>(), Err(()));
    }
}
