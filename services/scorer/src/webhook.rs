//! The alert webhook's wire format and one delivery attempt: the JSON body
//! (Slack-compatible `{"text": ...}` plus the transition itself), the idempotency key,
//! the HTTP client (rustls, `ca_file`) and how an answer is classified. The delivery
//! loop (read the alerts topic, retry, dead-letter, commit) is `notifier`.

use std::time::Duration;

use pulse_core::AlertTransition;
use sha2::{Digest, Sha256};

use crate::{config::WebhookConfig, rows::alert_id};

/// The header that carries [`idempotency_key`].
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// A stable id of one notification: SHA-256 (hex) of the alert id, the transition (which
/// one, and whether this is its retraction) and its day. Reading the same message of the
/// alerts topic again (a crash before the offset commit, a rebalance) gives the same key,
/// and so does the same transition derived again (a scorer that restarted and replayed
/// its log re-emits it under a new version; a transition withdrawn and derived back on
/// the same day): a receiver that remembers keys drops the copy, so a CSM is told about
/// one transition once. Its retraction has a key of its own, and so does the same
/// transition holding again after a retraction (`seq`, from pulse-core: opened, retracted,
/// opened again on one day gives K1, K2, K3, never K1 twice, so a receiver that keeps keys
/// does not drop the re-opening). The first holding's key is the same as before `seq`
/// existed.
pub fn idempotency_key(t: &AlertTransition) -> String {
    let mut h = Sha256::new();
    h.update(alert_id(t).as_bytes());
    for part in [t.transition().as_str(), t.state.as_str(), &t.as_of.to_string()] {
        h.update(b"\n");
        h.update(part.as_bytes());
    }
    if t.seq > 1 {
        h.update(format!("\n#{}", t.seq).as_bytes());
    }
    hex::encode(h.finalize())
}

/// The JSON body: Slack shows `text`; other receivers read the structured fields.
pub fn body(t: &AlertTransition, key: &str) -> serde_json::Value {
    let verb = t.state.as_str();
    serde_json::json!({
        "text": format!("[{}] {} {} for {}: {}", verb, t.rule.as_str(), verb, t.account_id, t.message),
        "alert_id": alert_id(t),
        "idempotency_key": key,
        "alert": t,
    })
}

/// The webhook's HTTP client: rustls with Mozilla's roots plus `ca_file`, and the
/// configured timeout. Shared with the TLS test, so what is tested is what runs.
pub fn http_client(cfg: &WebhookConfig) -> Result<reqwest::Client, pulse_runtime::settings::SettingsError> {
    let tls = pulse_runtime::tls::client_config_for(cfg.ca_file.as_deref(), "scorer.webhook.ca_file")?;
    reqwest::Client::builder()
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .use_preconfigured_tls(tls)
        .build()
        .map_err(|e| pulse_runtime::settings::SettingsError::invalid("scorer.webhook", format!("HTTP client: {e}")))
}

/// What one POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx.
    Delivered,
    /// Worth another try: a timeout, a connection error, HTTP 408, 429 or 5xx.
    Transient(String),
    /// The receiver refuses this notification for good (other 4xx; 3xx, which reqwest
    /// already followed): not retried.
    Permanent(String),
}

/// Classifies an HTTP status.
pub fn classify(status: reqwest::StatusCode) -> Attempt {
    if status.is_success() {
        Attempt::Delivered
    } else if status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
    {
        Attempt::Transient(format!("HTTP {status}"))
    } else {
        Attempt::Permanent(format!("HTTP {status}"))
    }
}

/// One POST of `body` with its idempotency key (header and body). Errors never carry
/// the URL (it is often a secret).
pub async fn post(client: &reqwest::Client, url: &str, key: &str, body: &serde_json::Value) -> Attempt {
    match client.post(url).header(IDEMPOTENCY_HEADER, key).json(body).send().await {
        Ok(r) => classify(r.status()),
        Err(e) => Attempt::Transient(e.without_url().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use pulse_core::{config::Severity, AlertRule, AlertState};

    fn t(state: AlertState) -> AlertTransition {
        let day = NaiveDate::from_ymd_opt(2026, 3, 10).expect("date");
        AlertTransition {
            account_id: "acme".into(),
            rule: AlertRule::LowEngagement,
            state,
            as_of: day,
            opened_on: day,
            severity: Severity::Warning,
            message: "m".into(),
            details: serde_json::Value::Null,
            retracts: (state == AlertState::Retracted).then_some(pulse_core::alerts::TransitionKind::Opened),
            reason: None,
            seq: 1,
        }
    }

    #[test]
    fn the_key_is_stable_per_transition_and_differs_between_them() {
        let opened = t(AlertState::Opened);
        let k = idempotency_key(&opened);
        assert_eq!(k.len(), 64);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()), "a valid header value: {k}");
        assert_eq!(k, idempotency_key(&opened.clone()), "same transition (re-derived too), same key");
        assert_ne!(k, idempotency_key(&t(AlertState::Retracted)), "its retraction");
        let other = AlertTransition { account_id: "acme2".into(), ..opened.clone() };
        assert_ne!(k, idempotency_key(&other));
        let later = AlertTransition { as_of: opened.as_of.succ_opt().expect("day"), ..opened.clone() };
        assert_ne!(k, idempotency_key(&later), "the same rule opening on another day");
        // Opened, retracted, opened again: three keys, the third not the first's.
        let retracted = t(AlertState::Retracted);
        let again = AlertTransition { seq: 2, ..opened.clone() };
        let keys = [idempotency_key(&opened), idempotency_key(&retracted), idempotency_key(&again)];
        assert_ne!(keys[0], keys[2], "a re-opening is not a repeat of the opening");
        assert_ne!(keys[1], keys[2]);
        assert_eq!(idempotency_key(&again), idempotency_key(&again.clone()), "a repeat of the re-opening");
        assert_eq!(body(&opened, &k)["idempotency_key"], k.as_str());
    }

    #[test]
    fn answers_are_classified() {
        use reqwest::StatusCode as S;
        assert_eq!(classify(S::OK), Attempt::Delivered);
        assert_eq!(classify(S::NO_CONTENT), Attempt::Delivered);
        for s in
            [S::INTERNAL_SERVER_ERROR, S::BAD_GATEWAY, S::SERVICE_UNAVAILABLE, S::TOO_MANY_REQUESTS, S::REQUEST_TIMEOUT]
        {
            assert!(matches!(classify(s), Attempt::Transient(_)), "{s}");
        }
        for s in [S::BAD_REQUEST, S::UNAUTHORIZED, S::NOT_FOUND, S::GONE, S::UNPROCESSABLE_ENTITY] {
            assert!(matches!(classify(s), Attempt::Permanent(_)), "{s}");
        }
    }
}
