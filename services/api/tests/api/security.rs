//! Authentication, validation, injection attempts, the OpenAPI document, the pages.

use base64::Engine as _;

use crate::{common::*, portfolio::urlencode};

/// Every GET route with a valid example (account routes use `{id}`).
const GETS: &[&str] = &[
    "/api/openapi.json",
    "/api/v1/filters",
    "/api/v1/portfolio",
    "/api/v1/portfolio/breakdown",
    "/api/v1/portfolio/trend",
    "/api/v1/portfolio/movers",
    "/api/v1/accounts",
    "/api/v1/accounts/{id}",
    "/api/v1/accounts/{id}/history",
    "/api/v1/accounts/{id}/readiness",
    "/api/v1/accounts/{id}/alerts",
    "/api/v1/graduation",
    "/api/v1/graduation/accounts",
    "/api/v1/alerts",
    "/api/v1/alerts/summary",
    "/api/v1/renewals",
    "/api/v1/accuracy",
    "/api/v1/reconcile",
    "/api/v1/sources",
    "/",
    "/accounts",
    "/accounts/{id}",
    "/graduation",
    "/alerts",
    "/renewals",
    "/accuracy",
    "/assets/pulse.css",
];

async fn some_id(api: &Api) -> String {
    api.ok("/api/v1/accounts?page_size=1").await["items"][0]["account_id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn every_endpoint_but_health_checks_needs_credentials() {
    let env = shared().await;
    let api = spawn(env).await;
    let id = some_id(&api).await;
    let basic = |user: &str, pass: &str| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
    };
    for route in GETS {
        let path = route.replace("{id}", &id);
        for auth in [
            None,
            Some("Bearer wrong-token-0123456789".to_owned()),
            Some(basic(TOKEN_NAME, "wrong")),
            Some(basic("other", &api.token)),
            Some(api.token.clone()),
        ] {
            let r = api.raw(&path, auth.as_deref()).await;
            assert_eq!(r.status().as_u16(), 401, "{path} with {auth:?}");
            assert!(
                r.headers().get("www-authenticate").is_some_and(|h| h.to_str().unwrap_or("").starts_with("Basic")),
                "{path}"
            );
            let body: serde_json::Value = r.json().await.expect("json");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
        let ok = api.raw(&path, Some(&format!("Bearer {}", api.token))).await;
        assert_eq!(ok.status().as_u16(), 200, "{path}");
        let ok = api.raw(&path, Some(&basic(TOKEN_NAME, &api.token))).await;
        assert_eq!(ok.status().as_u16(), 200, "{path} with basic auth");
    }
    let (s, _) = api.post("/api/v1/alerts/ack", "application/json", "{}").await;
    assert_eq!(s, 400, "authenticated POST reaches validation");
    let r = api
        .http
        .post(format!("{}/api/v1/alerts/ack", api.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401, "POST without credentials");
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(api.raw(open, None).await.status().as_u16(), 200, "{open}");
    }
    let metrics = api.raw("/metrics", None).await.text().await.expect("text");
    assert!(metrics.contains("pulse_api_auth_failures_total"), "{metrics}");
    assert!(metrics.contains(r#"route="/api/v1/accounts/{id}""#), "route templates, never account ids");
    assert!(!metrics.contains(&id), "no account id in metric labels");
    assert!(!metrics.contains(&api.token));
}

#[tokio::test]
async fn bad_parameters_are_400_with_the_parameter_named() {
    let env = shared().await;
    let api = spawn(env).await;
    let id = some_id(&api).await;
    let cases = [
        ("/api/v1/accounts?page_size=0", "parameter `page_size`: 0 is out of range 1..=100"),
        ("/api/v1/accounts?page_size=101", "parameter `page_size`"),
        ("/api/v1/accounts?page=0", "parameter `page`"),
        ("/api/v1/accounts?page=two", "`two` is not an integer"),
        ("/api/v1/accounts?color=purple", "parameter `color`: `purple` is not one of green, yellow, red"),
        ("/api/v1/accounts?stage=churned", "parameter `stage`"),
        ("/api/v1/accounts?verdict=maybe", "parameter `verdict`"),
        ("/api/v1/accounts?red_flag=all", "parameter `red_flag`"),
        ("/api/v1/accounts?sort=password", "parameter `sort`"),
        ("/api/v1/accounts?change_days=9999", "parameter `change_days`"),
        ("/api/v1/accounts?q=", "unknown parameter"),
        ("/api/v1/accounts?limit=5", "unknown parameter `limit`"),
        ("/api/v1/accounts?color=red&color=green", "more than once"),
        (&*format!("/api/v1/accounts?q={}", "x".repeat(129)), "longer than 128"),
        ("/api/v1/accounts?segment=a%0Ab", "control characters"),
        ("/api/v1/portfolio/breakdown?by=region", "parameter `by`"),
        ("/api/v1/portfolio?segmnt=smb", "unknown parameter `segmnt`"),
        (&*format!("/api/v1/accounts/{id}/history?days=x"), "parameter `days`"),
        (&*format!("/api/v1/accounts/{id}/history?from=2026-02-30"), "parameter `from`"),
        (&*format!("/api/v1/accounts/{id}?x=1"), "unknown parameter"),
        ("/api/v1/graduation/accounts?sort=-nothing", "parameter `sort`"),
        ("/api/v1/alerts?severity=fatal", "parameter `severity`"),
        ("/api/v1/alerts/summary?rule=x", "unknown parameter `rule`"),
    ];
    // `q=` (empty) is *not* an error: empty values mean "any" (HTML forms).
    let cases: Vec<_> = cases.into_iter().filter(|(p, _)| !p.ends_with("?q=")).collect();
    for (path, want) in cases {
        api.bad(path, want).await;
    }
    assert_eq!(api.get("/api/v1/accounts?q=").await.0, 200);
    let long_id = "x".repeat(129);
    api.bad(&format!("/api/v1/accounts/{long_id}"), "parameter `account_id`").await;
    // Pages show the same message with the same status.
    let r = api.raw("/accounts?color=purple", Some(&format!("Bearer {}", api.token))).await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.expect("html").contains("parameter `color`"));
}

const PAYLOADS: &[&str] = &[
    "' OR '1'='1",
    "x' OR 1=1 --",
    "\\' OR 1=1 --",
    "'); DROP TABLE account_health; --",
    "\" OR \"\"=\"",
    "%' UNION ALL SELECT name FROM system.tables --",
    "? OR 1=1",
    "`name`",
    "smb' AND sleep(3) = 0 --",
    "Ω≈ç√ 🚀",
];

#[tokio::test]
async fn injection_attempts_in_every_string_parameter_match_nothing() {
    let env = shared().await;
    let api = spawn(env).await;
    let id = some_id(&api).await;
    let counts = |t: &'static str| async move { env.scalar(&format!("SELECT count() FROM {t}")).await };
    let before = (counts("account_health").await, counts("health_alerts").await, counts("alert_acks").await);
    // Free-text parameters: a literal value that matches nothing.
    let text_params = [
        ("/api/v1/accounts", "q"),
        ("/api/v1/accounts", "segment"),
        ("/api/v1/accounts", "csm"),
        ("/api/v1/portfolio/breakdown", "segment"),
        ("/api/v1/portfolio/breakdown", "csm"),
        ("/api/v1/portfolio/movers", "segment"),
        ("/api/v1/portfolio/movers", "csm"),
        ("/api/v1/graduation/accounts", "q"),
        ("/api/v1/graduation/accounts", "segment"),
        ("/api/v1/graduation/accounts", "csm"),
        ("/api/v1/alerts", "account_id"),
        ("/api/v1/alerts", "segment"),
        ("/api/v1/alerts", "csm"),
    ];
    for payload in PAYLOADS {
        let enc = urlencode(payload);
        for (path, param) in text_params {
            let v = api.ok(&format!("{path}?{param}={enc}")).await;
            assert_eq!(v["total"], 0, "{path}?{param}={payload}: {v}");
        }
        for path in ["/api/v1/portfolio", "/api/v1/graduation", "/api/v1/alerts/summary", "/api/v1/portfolio/trend"] {
            for param in ["segment", "csm"] {
                let v = api.ok(&format!("{path}?{param}={enc}")).await;
                let zero = v["accounts"] == 0
                    || v["onboarding"] == 0
                    || v["open"] == 0
                    || v["points"].as_array().is_some_and(|p| p.iter().all(|x| x["accounts"] == 0));
                assert!(zero, "{path}?{param}={payload}: {v}");
            }
        }
        // The forecast and the backtest of a scope that matches no account.
        for param in ["segment", "csm"] {
            let r = api.ok(&format!("/api/v1/renewals?{param}={enc}")).await;
            assert_eq!(r["calibration"]["outcomes"], 0, "renewals?{param}={payload}: {r}");
            assert!(r["windows"].as_array().is_some_and(|w| w.iter().all(|x| x["renewals"] == 0)), "{r}");
            let a = api.ok(&format!("/api/v1/accuracy?{param}={enc}")).await;
            assert_eq!(a["outcomes"], 0, "accuracy?{param}={payload}: {a}");
        }
        api.bad(&format!("/api/v1/renewals?quarters={enc}"), "parameter `quarters`").await;
        // Enumerated parameters reject anything else.
        for (path, param) in [
            ("/api/v1/accounts", "color"),
            ("/api/v1/accounts", "stage"),
            ("/api/v1/accounts", "verdict"),
            ("/api/v1/accounts", "red_flag"),
            ("/api/v1/accounts", "sort"),
            ("/api/v1/portfolio/breakdown", "by"),
            ("/api/v1/portfolio/breakdown", "sort"),
            ("/api/v1/portfolio/movers", "direction"),
            ("/api/v1/portfolio/trend", "to"),
            ("/api/v1/graduation/accounts", "verdict"),
            ("/api/v1/graduation/accounts", "sort"),
            ("/api/v1/alerts", "rule"),
            ("/api/v1/alerts", "severity"),
            ("/api/v1/alerts", "state"),
            ("/api/v1/alerts", "sort"),
            ("/api/v1/accounts", "page_size"),
        ] {
            api.bad(&format!("{path}?{param}={enc}"), &format!("parameter `{param}`")).await;
        }
        // Path parameters: no such account.
        for sub in ["", "/history", "/readiness"] {
            let (s, v) = api.get(&format!("/api/v1/accounts/{enc}{sub}")).await;
            assert_eq!(s, 404, "account {payload}{sub}: {v}");
        }
        let v = api.ok(&format!("/api/v1/accounts/{enc}/alerts")).await;
        assert_eq!(v["total"], 0);
        // The acknowledgement body.
        let body = serde_json::json!({"alert_id": payload, "note": payload, "by": payload}).to_string();
        let (s, v) = api.post("/api/v1/alerts/ack", "application/json", &body).await;
        assert_eq!(s, 404, "ack {payload}: {v}");
        // A page renders the payload escaped.
        let html = api
            .raw(&format!("/accounts?q={enc}"), Some(&format!("Bearer {}", api.token)))
            .await
            .text()
            .await
            .expect("html");
        let special = payload.contains(['<', '>', '"', '\'', '&']);
        assert!(!special || !html.contains(payload), "{payload} is escaped in the page");
    }
    let html = api
        .raw(&format!("/accounts?q={}", urlencode("<script>alert(1)</script>")), Some(&format!("Bearer {}", api.token)))
        .await
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert"),
        "reflected text is escaped"
    );
    let after = (counts("account_health").await, counts("health_alerts").await, counts("alert_acks").await);
    assert_eq!(before, after, "nothing was written or dropped");
    let _ = id;
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let env = shared().await;
    let api = spawn(env).await;
    let doc = api.ok("/api/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<String> = doc["paths"].as_object().expect("paths").keys().cloned().collect();
    let documented_gets: Vec<&str> = GETS.iter().copied().filter(|p| p.starts_with("/api/v1/")).collect();
    for p in &documented_gets {
        assert!(paths.iter().any(|d| d == p), "{p} is not documented");
        assert!(doc["paths"][p]["get"]["parameters"].is_array());
    }
    assert!(doc["paths"]["/api/v1/alerts/ack"]["post"]["requestBody"].is_object());
    assert_eq!(paths.len(), documented_gets.len() + 1, "{paths:?}");
    // Every documented query parameter is accepted by its route.
    let id = some_id(&api).await;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(get) = item.get("get") else { continue };
        for p in get["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().expect("name");
            let (s, v) = api.get(&format!("{}?{name}=%00", path.replace("{id}", &id))).await;
            assert_ne!(
                v["error"]["message"].as_str().map(|m| m.contains("unknown parameter")),
                Some(true),
                "{path} {name}: {s} {v}"
            );
        }
    }
}

#[tokio::test]
async fn pages_render_the_key_numbers() {
    let env = shared().await;
    let api = spawn(env).await;
    let auth = format!("Bearer {}", api.token);
    let s = api.ok("/api/v1/portfolio").await;
    let html = api.raw("/", Some(&auth)).await.text().await.expect("html");
    for (testid, key) in [("accounts", "accounts"), ("green", "green"), ("yellow", "yellow"), ("red", "red")] {
        let want = if key == "accounts" { s[key].to_string() } else { s["colors"][key].to_string() };
        assert!(html.contains(&format!(r#"data-testid="{testid}">{want}<"#)), "{testid} = {want}");
    }
    assert!(html.contains("<svg class=\"chart\""));
    let id = api.ok("/api/v1/accounts?red_flag=usage_declining&page_size=1").await["items"][0]["account_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = api.raw(&format!("/accounts/{}", urlencode(&id)), Some(&auth)).await;
    assert_eq!(r.status().as_u16(), 200);
    let csp = r.headers().get("content-security-policy").and_then(|h| h.to_str().ok()).unwrap_or_default().to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = r.text().await.expect("html");
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 2, "score and active-user charts");
    assert!(html.contains("green ≥ 70") && html.contains("low engagement 50"), "threshold lines");
    for page in ["/accounts?color=red", "/graduation?overdue=true", "/alerts?state=all&sort=rule"] {
        assert_eq!(api.raw(page, Some(&auth)).await.status().as_u16(), 200, "{page}");
    }
}

#[tokio::test]
async fn made_up_methods_do_not_create_time_series() {
    // Requests are counted before authentication: a client without credentials must not
    // be able to add a `method` label value (a time series) per request.
    let env = shared().await;
    let api = spawn(env).await;
    for (i, path) in ["/api/v1/portfolio", "/", "/api/v1/alerts/ack"].iter().enumerate() {
        let method = reqwest::Method::from_bytes(format!("PWNED{i}").as_bytes()).expect("a method token");
        let r = api.http.request(method, format!("{}{path}", api.base)).send().await.expect("request");
        assert!(matches!(r.status().as_u16(), 401 | 405), "{path}: {}", r.status());
    }
    let metrics = api.raw("/metrics", None).await.text().await.expect("text");
    assert!(!metrics.contains("PWNED"), "a made-up method became a label value:\n{metrics}");
    assert!(metrics.contains(r#"method="other""#), "made-up methods are counted as `other`:\n{metrics}");
}
