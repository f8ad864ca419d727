//! ClickHouse clients of the read side. Every value from a request reaches ClickHouse
//! as a server-side query parameter (`pulse_storage::sql::Sql`); request data is never
//! spliced into SQL text. Reads run with `readonly = 2` and ClickHouse's own time limit.
//!
//! The SQL itself, the row types and every query live in `pulse_storage` (`sql`,
//! `read`): this module only builds the clients the API runs them with.

/// Read and write clients, and what the read side keeps between requests.
#[derive(Clone)]
pub struct Db {
    /// Queries: `readonly = 2`, time-limited, results limited to `max_result_rows`.
    pub read: clickhouse::Client,
    /// Acknowledgement inserts.
    pub write: clickhouse::Client,
    /// The read client's limit on the rows of one query's result (`api.max_result_rows`):
    /// whole-portfolio reads split themselves into queries under it.
    pub max_result_rows: u64,
    /// The renewal forecast's and the accuracy page's inputs and answers, kept while
    /// the tables they come from are unchanged.
    pub outcomes: std::sync::Arc<crate::routes::outcomes::Cache>,
}

impl Db {
    /// Reads with `api.read_user` when set (a read-only user), else with the
    /// `[clickhouse]` user restricted to `readonly = 2` per query.
    pub fn new(cfg: &pulse_runtime::clickhouse::ClickHouseConfig, api: &crate::ApiConfig) -> Self {
        let write = cfg.client();
        let mut read = match &api.read_user {
            Some(user) => {
                let c = pulse_runtime::clickhouse::ClickHouseConfig {
                    user: user.clone(),
                    password: api.read_password.clone(),
                    ..cfg.clone()
                };
                c.client()
            }
            None => cfg.client().with_setting("readonly", "2"),
        };
        // The queries' outer joins rely on unmatched right-side columns taking their
        // type's default (`''`, `0`, and NULL for the columns they select as Nullable),
        // so the row types never depend on a server profile's `join_use_nulls`.
        read = read
            .with_setting("max_execution_time", api.query_timeout_secs.to_string())
            .with_setting("max_result_rows", api.max_result_rows.to_string())
            .with_setting("result_overflow_mode", "throw")
            .with_setting("join_use_nulls", "0");
        Self { read, write, max_result_rows: api.max_result_rows, outcomes: Default::default() }
    }
}
