//! @mentions (issue #19, item 8): `@name` in a proposal or a comment links
//! to the member and tells them once, by mail and under "Since your last
//! visit"; a name nobody in the team has stays plain text.

use reqwest::StatusCode;
use serde_json::json;

use crate::announce::{Mail, new_mail, only};
use crate::helpers::{in_seconds, spawn};

fn mentions_of<'a>(mails: &'a [Mail], to: &str) -> Vec<&'a Mail> {
    mails
        .iter()
        .filter(|m| m.to == to && m.subject.contains(" mentioned you on "))
        .collect()
}

#[tokio::test]
async fn a_mention_links_to_the_member_and_tells_them_once() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("robert@example.com", "Bob Builder").await;
    let chen = app.api_user("chen@example.com", "Chen Li").await;
    let olive = app.api_user("olive@example.com", "Olive").await;
    let dave = app.api_user("dave@example.com", "Dave").await;
    app.team("MEN", &ana, &[&bob, &chen], &[&olive]).await;
    // Bob's first visit starts his count.
    let (status, _) = app.get(&bob.browser, "/t/team-men").await;
    assert_eq!(status, StatusCode::OK);
    let mut seen = 0;
    new_mail(&app, &mut seen).await;

    let (status, body) = ana
        .post(
            "/api/v1/teams/MEN/proposals",
            json!({"title": "Pick a CI runner", "decider": chen.email, "closes_at": in_seconds(86_400),
                   "body": "@robert knows the runners; @ChenLi decides. Not @dave, nor `@robert` in code, nor ana@example.com."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    let mails = new_mail(&app, &mut seen).await;
    let subject = format!("[Team MEN] Ana mentioned you on {id}: Pick a CI runner");
    let to_bob = only(&mails, &bob.email, &subject);
    assert!(
        to_bob
            .text
            .contains("Ana mentioned you in the text of this proposal."),
        "{}",
        to_bob.text
    );
    assert!(to_bob.text.contains("knows the runners"), "{}", to_bob.text);
    assert!(!to_bob.unsubscribe.is_empty());
    only(&mails, &chen.email, &subject);
    assert!(mentions_of(&mails, &dave.email).is_empty(), "not a member");
    assert!(mentions_of(&mails, &ana.email).is_empty(), "not the author");

    // The page links the members' mentions, and leaves the rest as text.
    let bob_id = app.user_id(&bob.email).await;
    let (_, page) = app.get(&chen.browser, &format!("/d/{id}")).await;
    assert!(
        page.contains(&format!(
            r#"<a href="/t/team-men/settings#member-{bob_id}" rel="noopener noreferrer nofollow">@Bob Builder</a> knows the runners"#
        )),
        "{page}"
    );
    assert!(page.contains(">@Chen Li</a> decides."), "{page}");
    assert!(
        page.contains("Not @dave, nor <code>@robert</code>"),
        "{page}"
    );
    let (_, settings) = app.get(&chen.browser, "/t/team-men/settings").await;
    assert!(
        settings.contains(&format!("<tr id=\"member-{bob_id}\">")),
        "the link's target"
    );

    // A comment that names Ana twice tells her once, linking to the comment.
    let (status, body) = chen
        .post(
            &format!("/api/v1/decisions/{id}/comments"),
            json!({"body": "@ana, @Ana: which runner did you have in mind?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mails = new_mail(&app, &mut seen).await;
    let to_ana = mentions_of(&mails, &ana.email);
    assert_eq!(to_ana.len(), 1, "{mails:?}");
    assert_eq!(
        to_ana[0].subject,
        format!("[Team MEN] Chen Li mentioned you on {id}: Pick a CI runner")
    );
    assert!(
        to_ana[0].text.contains("in a comment on this proposal"),
        "{}",
        to_ana[0].text
    );
    assert!(
        to_ana[0].text.contains(&format!("/d/{id}#c")),
        "{}",
        to_ana[0].text
    );

    // A revision tells only whom it newly mentions.
    let r = app
        .post_form(
            &ana.browser,
            &format!("/d/{id}"),
            &format!("/d/{id}/revise"),
            &[(
                "body",
                "@robert knows the runners; @olive watches the bill.",
            )],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mails = new_mail(&app, &mut seen).await;
    assert_eq!(mentions_of(&mails, &olive.email).len(), 1, "{mails:?}");
    assert!(mentions_of(&mails, &bob.email).is_empty(), "{mails:?}");

    // Bob's dashboard says it too, once.
    let (_, dash) = app.get(&bob.browser, "/t/team-men").await;
    let since = dash
        .split_once("id=\"since-heading\"")
        .and_then(|(_, rest)| rest.split_once("</section>"))
        .map(|(s, _)| s)
        .unwrap_or_else(|| panic!("{dash}"));
    assert_eq!(since.matches("Ana mentioned you").count(), 1, "{since}");
    assert!(since.contains(&id), "{since}");
}
