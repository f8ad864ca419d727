//! `[api]` configuration. The doc comments are the user documentation.

use pulse_runtime::settings::{ensure, Secret, SettingsError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Listen address of the API, the dashboard, `/metrics`, `/healthz` and `/readyz`.
    pub http_listen: String,
    /// Credentials, comma separated `name:token` pairs (e.g. `dashboard:0f3c...,ops:9a1b...`).
    /// A request authenticates with `Authorization: Bearer <token>` or with HTTP Basic
    /// (user `<name>`, password `<token>`; what a browser prompts for). The name is
    /// recorded with acknowledgements and logged; tokens never are. Tokens must be at
    /// least 16 characters. `pulse api` refuses to start without any.
    /// Set it with `PULSE__API__TOKENS` rather than in a file.
    pub tokens: Option<Secret>,
    /// Largest `page_size` a list endpoint accepts (default page size: 50).
    pub max_page_size: u32,
    /// Longest time range a history or trend request may cover, in days.
    pub max_range_days: u32,
    /// ClickHouse's limit on one query's run time (`max_execution_time`); a request over
    /// it fails with 503.
    pub query_timeout_secs: u32,
    /// ClickHouse's limit on the rows of one query's result (`max_result_rows`, default
    /// 200,000): a list or lookup that would return more fails with 503 rather than
    /// hold the API's memory. The renewal forecast and the accuracy page read the whole
    /// portfolio in queries under it, however many accounts there are.
    pub max_result_rows: u64,
    /// Requests served at once; more wait (bounded by `request_timeout_secs`).
    pub max_concurrent_requests: u32,
    /// Whole-request deadline, waiting included; over it the answer is 503.
    pub request_timeout_secs: u32,
    /// ClickHouse user for queries, e.g. a read-only `pulse_reader` (see
    /// docs/api.md#clickhouse-users); absent: the `[clickhouse]` user, with every query
    /// run under `readonly = 2` anyway. Acknowledgements are written with the
    /// `[clickhouse]` user, which needs only INSERT on `alert_acks`.
    pub read_user: Option<String>,
    /// Password of `read_user`. Never logged.
    pub read_password: Option<Secret>,
    /// Serve `/metrics` without credentials (it holds only bounded operational counters,
    /// no customer data). `false` puts it behind the same authentication as the API.
    pub public_metrics: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            http_listen: "127.0.0.1:8080".into(),
            tokens: None,
            max_page_size: 200,
            max_range_days: 366,
            query_timeout_secs: 10,
            max_result_rows: 200_000,
            max_concurrent_requests: 64,
            request_timeout_secs: 15,
            read_user: None,
            read_password: None,
            public_metrics: true,
        }
    }
}

/// One configured credential.
#[derive(Clone)]
pub struct Credential {
    pub name: String,
    pub token: Secret,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, [redacted])", self.name)
    }
}

/// Parses `name:token[,name:token...]`; the error never contains a token.
pub fn parse_tokens(raw: &str) -> Result<Vec<Credential>, String> {
    let mut out: Vec<Credential> = Vec::new();
    for (i, pair) in raw.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
        let Some((name, token)) = pair.split_once(':') else {
            return Err(format!("entry {} is not `name:token`", i + 1));
        };
        let (name, token) = (name.trim(), token.trim());
        if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
        {
            return Err(format!("entry {}: the name must be 1..=64 characters of [A-Za-z0-9-_.@]", i + 1));
        }
        if token.len() < 16 || !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(format!(
                "entry {} (`{name}`): the token must be at least 16 printable ASCII characters",
                i + 1
            ));
        }
        if out.iter().any(|c| c.name == name) {
            return Err(format!("entry {}: the name `{name}` is used twice", i + 1));
        }
        out.push(Credential { name: name.to_owned(), token: Secret::new(token) });
    }
    Ok(out)
}

impl ApiConfig {
    /// Checks values (no I/O). An empty credential list is valid here so that other
    /// subcommands can load the same file; [`ApiConfig::credentials`] requires one.
    pub fn validate(&self) -> Result<(), SettingsError> {
        ensure(self.http_listen.parse::<std::net::SocketAddr>().is_ok(), "api.http_listen", || {
            format!("`{}` is not an ip:port address", self.http_listen)
        })?;
        if let Some(t) = &self.tokens {
            parse_tokens(t.expose()).map_err(|m| SettingsError::invalid("api.tokens", m))?;
        }
        ensure(self.read_user.as_deref() != Some(""), "api.read_user", || "must not be empty when set".into())?;
        ensure((1..=1000).contains(&self.max_page_size), "api.max_page_size", || {
            format!("{} is out of range 1..=1000", self.max_page_size)
        })?;
        ensure((7..=3660).contains(&self.max_range_days), "api.max_range_days", || {
            format!("{} is out of range 7..=3660", self.max_range_days)
        })?;
        ensure((1..=600).contains(&self.query_timeout_secs), "api.query_timeout_secs", || {
            format!("{} is out of range 1..=600", self.query_timeout_secs)
        })?;
        ensure((10..=1_000_000_000).contains(&self.max_result_rows), "api.max_result_rows", || {
            format!("{} is out of range 10..=1000000000", self.max_result_rows)
        })?;
        ensure((1..=10_000).contains(&self.max_concurrent_requests), "api.max_concurrent_requests", || {
            format!("{} is out of range 1..=10000", self.max_concurrent_requests)
        })?;
        ensure(
            (1..=600).contains(&self.request_timeout_secs) && self.request_timeout_secs >= self.query_timeout_secs,
            "api.request_timeout_secs",
            || format!("{} must be in 1..=600 and >= api.query_timeout_secs", self.request_timeout_secs),
        )
    }

    /// The credentials `pulse api` serves with; an error naming `api.tokens` when none.
    pub fn credentials(&self) -> Result<Vec<Credential>, SettingsError> {
        let creds = match &self.tokens {
            Some(t) => parse_tokens(t.expose()).map_err(|m| SettingsError::invalid("api.tokens", m))?,
            None => Vec::new(),
        };
        ensure(!creds.is_empty(), "api.tokens", || {
            "no credentials: set PULSE__API__TOKENS=name:token (a token of 16+ characters)".into()
        })?;
        Ok(creds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_but_need_credentials_to_serve() {
        let c = ApiConfig::default();
        c.validate().expect("defaults valid");
        let err = c.credentials().expect_err("no tokens").to_string();
        assert!(err.contains("api.tokens"), "{err}");
    }

    #[test]
    fn errors_name_the_key() {
        type Mutate = fn(&mut ApiConfig);
        let cases: Vec<(Mutate, &str)> = vec![
            (|c| c.http_listen = "nope".into(), "api.http_listen"),
            (|c| c.max_page_size = 0, "api.max_page_size"),
            (|c| c.max_range_days = 1, "api.max_range_days"),
            (|c| c.query_timeout_secs = 0, "api.query_timeout_secs"),
            (|c| c.max_concurrent_requests = 0, "api.max_concurrent_requests"),
            (|c| c.request_timeout_secs = 1, "api.request_timeout_secs"),
            (|c| c.tokens = Some(Secret::new("short:abc")), "api.tokens"),
        ];
        for (mutate, key) in cases {
            let mut c = ApiConfig::default();
            mutate(&mut c);
            let err = c.validate().expect_err(key).to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn token_errors_never_show_the_token() {
        for raw in [
            "a:tooshort",
            "nocolon0123456789abcdef",
            "bad name:0123456789abcdef",
            "a:0123456789abcdef,a:0123456789abcdeg",
        ] {
            let err = parse_tokens(raw).expect_err(raw);
            assert!(!err.contains("0123456789abcde") && !err.contains("tooshort"), "{err}");
        }
        let ok = parse_tokens(" dash:0123456789abcdef , ops:fedcba9876543210 ").expect("valid");
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].name, "ops");
        assert!(!format!("{ok:?}").contains("fedcba"));
    }
}
