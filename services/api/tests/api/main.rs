//! Integration tests of `pulse api` against the real ClickHouse of the local stack
//! (`scripts/stack up --infra`): a fixture database scored by the real core (the demo
//! cohorts, 20 accounts x 40 days), the API served on a random port, every endpoint,
//! filter, sort and page, authentication, validation and injection attempts; the renewal
//! forecast and scorecard accuracy on a hand-written scenario worked out by hand.

mod accounts;
mod alerts;
mod common;
mod escaping;
mod graduation;
mod portfolio;
mod quality;
mod reconcile;
mod renewals;
mod security;
