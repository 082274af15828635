//! Pending invitations say whom they are for and who made them, and an
//! admin can send one again (a new link; the old one stops) or revoke it
//! (issue #20). Mail is read back from the real folder transport.

use reqwest::StatusCode;

use crate::announce::{new_mail, only};
use crate::helpers::{TestApp, location, spawn};

/// The link to `/invite/…` in `text`, as a path.
fn invite_path(app: &TestApp, text: &str) -> String {
    let start = text
        .find(&format!("{}/invite/", app.base))
        .expect("an invitation link");
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect::<String>()
        .trim_start_matches(&app.base)
        .to_string()
}

/// The ids in the settings page's `…/invitations/{id}/{action}` forms.
fn ids(html: &str, action: &str) -> Vec<i64> {
    html.match_indices("/invitations/")
        .filter_map(|(i, _)| {
            let rest = &html[i + "/invitations/".len()..];
            let (id, tail) = rest.split_once('/')?;
            tail.starts_with(action).then(|| id.parse().ok())?
        })
        .collect()
}

#[tokio::test]
async fn an_admin_sees_whom_invitations_are_for_sends_one_again_and_revokes_it() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("INV", &ana, &[&bob], &[]).await;
    let settings = "/t/team-inv/settings";
    let mut seen = 0;
    new_mail(&app, &mut seen).await;

    for (role, email) in [("member", "carol@example.com"), ("observer", "")] {
        let r = app
            .post_form(
                &ana.browser,
                settings,
                "/t/team-inv/invitations",
                &[("role", role), ("email", email)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let mail = new_mail(&app, &mut seen).await;
    let first = only(
        &mail,
        "carol@example.com",
        "Ana invites you to join Team INV on Settled",
    );
    let old_link = invite_path(&app, &first.text);

    // The pending list names the address, the role, who made it and when.
    let (_, html) = app.get(&ana.browser, settings).await;
    assert!(html.contains("<th scope=\"row\"><bdi>carol@example.com</bdi></th>\n  <td>member</td>\n  <td><bdi>Ana</bdi>, "), "{html}");
    assert!(
        html.contains("<th scope=\"row\">a link to copy</th>\n  <td>observer</td>"),
        "{html}"
    );
    let revocable = ids(&html, "revoke");
    let resendable = ids(&html, "resend");
    assert_eq!(revocable.len(), 2, "both can be revoked");
    assert_eq!(resendable.len(), 1, "only the mailed one can be sent again");
    let carol = resendable[0];

    // A member cannot touch them.
    for action in ["resend", "revoke"] {
        let r = app
            .post_form(
                &bob.browser,
                "/t/team-inv",
                &format!("/t/team-inv/invitations/{carol}/{action}"),
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action}");
    }

    // Sent again: a new link; the old one says it was replaced.
    let r = app
        .post_form(
            &ana.browser,
            settings,
            &format!("/t/team-inv/invitations/{carol}/resend"),
            &[],
        )
        .await;
    assert_eq!(location(&r), "/t/team-inv/settings#invite-heading");
    let (_, html) = app.get(&ana.browser, settings).await;
    assert!(
        html.contains(
            "A new link for carol@example.com was written to the server&#39;s mail folder"
        ),
        "{html}"
    );
    let mail = new_mail(&app, &mut seen).await;
    let again = only(
        &mail,
        "carol@example.com",
        "Ana invites you to join Team INV on Settled",
    );
    let new_link = invite_path(&app, &again.text);
    assert_ne!(new_link, old_link);
    let visitor = crate::helpers::browser();
    let (status, html) = app.get(&visitor, &old_link).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("This invitation link is no longer valid: it was never made, or it was replaced by a newer link."), "{html}");
    assert_eq!(app.get(&visitor, &new_link).await.0, StatusCode::OK);

    // Revoked: the link says so, and joining through it is refused.
    let r = app
        .post_form(
            &ana.browser,
            settings,
            &format!("/t/team-inv/invitations/{carol}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana.browser, settings).await;
    assert!(html.contains("Invitation revoked: its link no longer works."));
    assert_eq!(ids(&html, "resend"), Vec::<i64>::new(), "no longer pending");
    let carol_browser = app.user("carol@example.com", "Carol").await;
    let (status, html) = app.get(&carol_browser, &new_link).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(
        html.contains("This invitation link is no longer valid: an admin of the team revoked it.")
    );
    let csrf = app.csrf(&carol_browser, "/settings").await;
    let r = carol_browser
        .post(format!("{}{new_link}", app.base))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(location(&r), "/");
    let (status, _) = app.get(&carol_browser, "/t/team-inv").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "Carol did not join");
    // Revoking again changes nothing, and says so.
    app.post_form(
        &ana.browser,
        settings,
        &format!("/t/team-inv/invitations/{carol}/revoke"),
        &[],
    )
    .await;
    let (_, html) = app.get(&ana.browser, settings).await;
    assert!(html.contains("That invitation was no longer pending"));
}
