//! Trusted HTML: [`Html`] is the only kind of value a template writes
//! without escaping, and only this module can make one: by escaping text,
//! by sanitising rendered Markdown, by rendering an askama template, or
//! from a literal written in the code. Everything else a template shows is
//! a plain string, which askama escapes. So user text (a display name, a
//! title, a reason) cannot reach a page as markup, whatever a handler does
//! with it: there is no way to turn a `String` into `Html` as it is.
//!
//! Templates never use askama's `|safe` filter (a test below reads them
//! all); fields meant to hold markup have the type `Html` instead.

/// A piece of HTML that is safe to put into a page as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Html(String);

/// Askama writes an `Html` without escaping it.
impl askama::filters::HtmlSafe for Html {}

impl std::fmt::Display for Html {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Html {
    /// Markup written in the code itself: a `'static` literal cannot come
    /// from anything a user typed.
    pub fn literal(markup: &'static str) -> Self {
        Self(markup.to_string())
    }

    /// `text` with every character that means something in HTML escaped,
    /// so it shows as the text it is.
    pub fn escape(text: &str) -> Self {
        let mut html = Self(String::with_capacity(text.len() + 8));
        html.push_text(text);
        html
    }

    /// Renders an askama template (which escapes what it is given).
    pub fn render(template: &impl askama::Template) -> Result<Self, askama::Error> {
        template.render().map(Self)
    }

    /// Renders Markdown, then sanitises it (no script, no event handlers,
    /// no `javascript:` links), so user text is always inert. Pages
    /// render through the kept renderings, [`super::cache::markdown`].
    pub fn markdown(source: &str) -> Self {
        Self(render_markdown(source, &|_| None))
    }

    /// Renders Markdown as [`Html::markdown`] does, with each `@name`
    /// outside code and links that `link` knows (name lowercased → address
    /// and the member's name) turned into a link to the member.
    pub fn markdown_mentioning(
        source: &str,
        link: &dyn Fn(&str) -> Option<(String, String)>,
    ) -> Self {
        Self(render_markdown(source, link))
    }

    /// Escapes `text`, then turns the match marks a full-text search put
    /// around its hits (`start`, `end`) into `<mark>` elements. Marks are
    /// paired here (a stray one, say typed by a user, is dropped), so the
    /// result is always well-formed; line breaks become spaces (a snippet
    /// is one line).
    pub fn marked(text: &str, start: char, end: char) -> Self {
        let mut html = String::with_capacity(text.len() + 32);
        let mut open = false;
        for c in text.chars() {
            match c {
                c if c == start && !open => {
                    html.push_str("<mark>");
                    open = true;
                }
                c if c == end && open => {
                    html.push_str("</mark>");
                    open = false;
                }
                c if c == start || c == end => {}
                '\n' | '\r' | '\t' => html.push(' '),
                c => push_escaped(&mut html, c),
            }
        }
        if open {
            html.push_str("</mark>");
        }
        Self(html)
    }

    /// Appends more trusted HTML.
    pub fn push(&mut self, more: &Html) {
        self.0.push_str(&more.0);
    }

    /// Appends `text`, escaped.
    pub fn push_text(&mut self, text: &str) {
        for c in text.chars() {
            push_escaped(&mut self.0, c);
        }
    }

    /// `literal` markup, then `text` escaped, then `close`: an element
    /// around plain text.
    pub fn wrap(open: &'static str, text: &str, close: &'static str) -> Self {
        let mut html = Self::literal(open);
        html.push_text(text);
        html.0.push_str(close);
        html
    }

    /// Cuts this HTML where `marker` occurs (a marker the renderer put in,
    /// such as a slot for a per-viewer value). Pieces of trusted HTML are
    /// trusted, and joined again they give the same HTML.
    pub fn split(&self, marker: &str) -> Vec<Html> {
        self.0.split(marker).map(|p| Self(p.to_string())).collect()
    }

    /// The markup.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The markup, to be handed on as text (escaped again wherever it is
    /// written, as in an Atom feed's `type="html"` content).
    pub fn into_string(self) -> String {
        self.0
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

fn render_markdown(source: &str, link: &dyn Fn(&str) -> Option<(String, String)>) -> String {
    use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut rendered = String::new();
    // Outside code blocks and links, a known `@name` becomes a link.
    let mut plain = 0_i32;
    let mut events = Vec::new();
    for event in Parser::new_ext(source, options) {
        match &event {
            Event::Start(Tag::CodeBlock(_) | Tag::Link { .. } | Tag::Image { .. }) => plain += 1,
            Event::End(TagEnd::CodeBlock | TagEnd::Link | TagEnd::Image) => plain -= 1,
            _ => {}
        }
        let Event::Text(text) = &event else {
            events.push(event);
            continue;
        };
        if plain > 0 || !text.contains('@') {
            events.push(event);
            continue;
        }
        let mut at = 0;
        for (range, name) in crate::domain::mention::tokens(text) {
            let Some((href, member)) = link(&name) else {
                continue;
            };
            if range.start > at {
                events.push(Event::Text(CowStr::from(text[at..range.start].to_string())));
            }
            let mut a = String::from("<a href=\"");
            for c in href.chars() {
                push_escaped(&mut a, c);
            }
            a.push_str("\">@");
            for c in member.chars() {
                push_escaped(&mut a, c);
            }
            a.push_str("</a>");
            events.push(Event::InlineHtml(CowStr::from(a)));
            at = range.end;
        }
        if at < text.len() {
            events.push(Event::Text(CowStr::from(text[at..].to_string())));
        }
    }
    html::push_html(&mut rendered, events.into_iter());
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&rendered)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_formatting_and_drops_script() {
        let html = Html::markdown(
            "**bold** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        );
        let html = html.as_str();
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
    }

    #[test]
    fn a_known_mention_links_outside_code_and_links_only() {
        let link = |name: &str| {
            (name == "bob").then(|| ("/t/x/settings#member-2".to_string(), "Bob <b>".to_string()))
        };
        let html = Html::markdown_mentioning(
            "Ask @bob, not @eve. `@bob` [@bob](https://example.com) a@bob",
            &link,
        );
        let html = html.as_str();
        assert!(
            html.contains(r#"Ask <a href="/t/x/settings#member-2" rel="noopener noreferrer nofollow">@Bob &lt;b&gt;</a>, not @eve."#),
            "{html}"
        );
        assert!(html.contains("<code>@bob</code>"), "{html}");
        assert!(
            html.contains(">@bob</a>"),
            "the link's own text stays: {html}"
        );
        assert!(html.contains(" a@bob"), "{html}");
    }

    #[test]
    fn escaped_text_stays_text() {
        let shown = Html::wrap("<p>", "<meta http-equiv=\"refresh\"> & 'x'", "</p>");
        assert_eq!(
            shown.as_str(),
            "<p>&lt;meta http-equiv=&quot;refresh&quot;&gt; &amp; &#39;x&#39;</p>"
        );
    }

    #[test]
    fn an_html_value_is_not_escaped_again_but_a_string_is() {
        #[derive(askama::Template)]
        #[template(source = "{{ trusted }}|{{ typed }}", ext = "html")]
        struct Page {
            trusted: Html,
            typed: String,
        }
        let page = Page {
            trusted: Html::escape("<b>"),
            typed: "<b>".into(),
        };
        assert_eq!(
            Html::render(&page).map(Html::into_string).ok().as_deref(),
            Some("&lt;b&gt;|&#60;b&#62;")
        );
    }

    /// Markup reaches a page only as an `Html` value: no template may turn
    /// a plain string into markup with `|safe`.
    #[test]
    fn no_template_uses_the_safe_filter() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                panic!("templates folder {} is readable", dir.display());
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                    if squeezed.contains("|safe") {
                        found.push(path.display().to_string());
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
            &mut found,
        );
        assert!(found.is_empty(), "templates using |safe: {found:?}");
    }
}
