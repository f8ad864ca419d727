//! What the dashboard shows is escaped: an account whose name (from the CRM) is markup
//! and quotes is shown as text on the accounts page and on its own page, never as markup.
//! The templates escape every spliced value; these tests fail if one of them is put in
//! a page unescaped (seen failing with the name spliced as `PreEscaped`).

use tokio::sync::OnceCell;

use crate::common::*;

const HOSTILE: &str = r#"<script>alert("pwned")</script> & O'Brien"#;
const ESCAPED: &str = "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; O'Brien";

/// A small fixture database in which one account's latest health row carries
/// [`HOSTILE`] as its name; and that account's id.
async fn hostile() -> &'static (pulse_e2e::TestEnv, String) {
    static ENV: OnceCell<(pulse_e2e::TestEnv, String)> = OnceCell::const_new();
    ENV.get_or_init(|| async {
        let env = loaded(2, 10).await;
        let api = spawn(&env).await;
        let id = api.ok("/api/v1/accounts?sort=name&page_size=1").await["items"][0]["account_id"]
            .as_str()
            .expect("an account")
            .to_owned();
        // A newer copy of its latest row (ReplacingMergeTree keeps the newest
        // computed_at; the materialized view carries it to account_health_latest).
        env.ch()
            .query(
                "INSERT INTO account_health SELECT * REPLACE ({name:String} AS name, computed_at + 1 AS computed_at) \
                 FROM account_health FINAL WHERE account_id = {id:String} ORDER BY as_of DESC LIMIT 1",
            )
            .param("name", HOSTILE)
            .param("id", &id)
            .execute()
            .await
            .expect("rename the account");
        let v = api.ok(&format!("/api/v1/accounts/{id}")).await;
        assert_eq!(v["attributes"]["name"], HOSTILE, "the API returns the name as stored: {v}");
        (env, id)
    })
    .await
}

async fn page(path: &str) -> String {
    let (env, _) = hostile().await;
    let api = spawn(env).await;
    let r = api.raw(path, Some(&format!("Bearer {}", api.token))).await;
    assert_eq!(r.status().as_u16(), 200, "GET {path}");
    r.text().await.expect("html")
}

fn assert_escaped(path: &str, html: &str, at: &str) {
    assert!(!html.contains("<script>alert"), "{path}: the name is markup in the page");
    assert!(!html.contains(r#"alert("pwned")"#), "{path}: quotes are not escaped");
    assert!(html.contains(at), "{path}: lacks {at}");
}

#[tokio::test]
async fn the_accounts_page_shows_a_hostile_name_as_text() {
    let (_, id) = hostile().await;
    let html = page("/accounts?sort=name").await;
    assert_escaped("/accounts", &html, &format!(r#"<a href="/accounts/{id}">{ESCAPED}</a>"#));
}

#[tokio::test]
async fn the_account_page_shows_a_hostile_name_as_text() {
    let (_, id) = hostile().await;
    let html = page(&format!("/accounts/{id}")).await;
    assert_escaped(&format!("/accounts/{id}"), &html, &format!(r#"<h1 data-testid="name">{ESCAPED}</h1>"#));
    assert!(html.contains(&format!("<title>{ESCAPED} · Pulse</title>")), "the page title");
}
