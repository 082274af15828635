//! The instance admin's accounts page (issue #20): every account with its
//! teams, last seen and admin flag; instance admin granted and revoked,
//! never the last one; a reset link sent by an admin.

use reqwest::StatusCode;

use crate::announce::folder;
use crate::helpers::spawn;

/// The form ids of the accounts page for `action`.
fn ids(html: &str, action: &str) -> Vec<i64> {
    html.match_indices("/admin/accounts/")
        .filter_map(|(i, _)| {
            let (id, tail) = html[i + "/admin/accounts/".len()..].split_once('/')?;
            tail.starts_with(action).then(|| id.parse().ok())?
        })
        .collect()
}

#[tokio::test]
async fn instance_admins_list_accounts_pass_the_role_on_and_send_reset_links() {
    let app = spawn().await;
    let ana = app.api_user("ana@example.com", "Ana").await;
    let bob = app.api_user("bob@example.com", "Bob").await;
    app.team("ADM", &ana, &[&bob], &[]).await;
    let (ana_id, bob_id) = (
        app.user_id("ana@example.com").await,
        app.user_id("bob@example.com").await,
    );

    // Only instance admins (Ana signed up first).
    assert_eq!(
        app.get(&bob.browser, "/admin/accounts").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, html) = app.get(&ana.browser, "/admin/accounts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<th scope=\"row\"><bdi>Ana</bdi> (you)</th>\n  <td><bdi>ana@example.com</bdi></td>\n  <td>1</td>"), "{html}");
    assert!(html.contains("<th scope=\"row\"><bdi>Bob</bdi></th>\n  <td><bdi>bob@example.com</bdi></td>\n  <td>1</td>"), "{html}");
    assert!(
        !html.contains("not since this list began"),
        "both have signed in: {html}"
    );
    assert_eq!(ids(&html, "reset").len(), 2);

    let set = |who: i64, admin: &'static str| {
        let app = &app;
        let browser = ana.browser.clone();
        async move {
            app.post_form(
                &browser,
                "/admin/accounts",
                &format!("/admin/accounts/{who}/admin"),
                &[("admin", admin)],
            )
            .await
            .status()
        }
    };
    // The last admin cannot step down.
    assert_eq!(set(ana_id, "no").await, StatusCode::SEE_OTHER);
    let (status, html) = app.get(&ana.browser, "/admin/accounts").await;
    assert_eq!(status, StatusCode::OK, "still an admin");
    assert!(
        html.contains("The instance must keep at least one admin: grant it to someone else first.")
    );
    // Passed on, then stepped down.
    assert_eq!(set(bob_id, "yes").await, StatusCode::SEE_OTHER);
    let (_, html) = app.get(&ana.browser, "/admin/accounts").await;
    assert!(html.contains("Bob now administers this instance."));
    assert_eq!(
        app.get(&bob.browser, "/admin/accounts").await.0,
        StatusCode::OK
    );
    assert_eq!(set(ana_id, "no").await, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&ana.browser, "/admin/accounts").await.0,
        StatusCode::FORBIDDEN
    );
    // Bad input is refused, and changes nothing.
    let r = app
        .post_form(
            &bob.browser,
            "/admin/accounts",
            &format!("/admin/accounts/{ana_id}/admin"),
            &[("admin", "maybe")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get(&ana.browser, "/admin/accounts").await.0,
        StatusCode::FORBIDDEN
    );

    // Bob, now an admin, sends Ana a reset link.
    let r = app
        .post_form(
            &bob.browser,
            "/admin/accounts",
            &format!("/admin/accounts/{ana_id}/reset"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get(&bob.browser, "/admin/accounts").await;
    assert!(
        html.contains("A link to set a new password for ana@example.com was written to the server"),
        "{html}"
    );
    let mail = folder(&app);
    assert!(
        mail.iter().any(|m| m.to == "ana@example.com"
            && m.subject == "Set a new password for Settled"
            && m.text.contains("/password/reset/")),
        "{mail:?}"
    );
    // A non-admin cannot.
    let r = app
        .post_form(
            &ana.browser,
            "/settings",
            &format!("/admin/accounts/{bob_id}/reset"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
