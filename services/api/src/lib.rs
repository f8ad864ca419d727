//! `pulse api`: the read side over ClickHouse. JSON endpoints (portfolio, accounts,
//! graduation pipeline, alerts, acknowledgements) and a server-rendered dashboard with
//! server-side SVG charts, behind bearer or basic authentication.
//!
//! Layout: `config` (the `[api]` section), `params` (typed query parameters), `db`
//! (the read and write clients), one module per concept under `routes` (requests
//! parsed, the queries of `pulse_storage::read` run, rows shaped into JSON), `ui`
//! (HTML pages and SVG charts over the same results), `auth`, `metrics`, `service`
//! (router and server), `openapi` (the document, derived with utoipa), `fixtures` (scored demo data for tests and benches,
//! written through `pulse_storage`'s rows).

pub mod config;
pub mod db;
pub mod error;
pub mod fixtures;
pub mod params;

pub use config::ApiConfig;
pub mod auth;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod service;
pub mod state;
pub mod ui;

pub use service::App;
