//! Pulse scoring core: events in; metrics, health, readiness and alerts out.
//!
//! Architecture invariants, kept on purpose:
//! - **No I/O, no async runtime, no clock.** Time (`as_of`, `now` for skew) and the
//!   config are arguments, so the services and `pulse replay` run the same code and
//!   a result can be reproduced from its inputs.
//! - **Order and duplicates do not matter** (see [`engine`]).
//! - **Every rule is data** ([`config::ScoringConfig`], `config/scoring.toml`).
//!
//! Modules, in data-flow order: [`event`] (parse and validate input), [`engine`]
//! (state and evaluation; internally `activity` for usage bitmasks, `crm` for the
//! CRM log, `facts`/`evidence` for derived values), [`metrics`] (SPEC §2),
//! [`readiness`] (§3), [`health`] (§4), [`quality`] (v3 §10: coverage, data status), [`alerts`] (§5), [`backtest`] and [`forecast`]
//! (§8: did the score predict renewals, and what it forecasts), [`config`].

pub mod alerts;
pub mod backtest;
pub mod config;
pub mod engine;
pub mod event;
pub mod forecast;
pub mod health;
pub mod metrics;
pub mod quality;
pub mod readiness;

mod activity;
mod crm;
mod dimension;
mod evidence;
mod facts;
mod hash;
mod num;

pub use alerts::{AlertRule, AlertState, AlertTracker, AlertTransition};
pub use config::{ConfigError, ScoringConfig};
pub use engine::{AccountAttributes, ApplyOutcome, Engine, Evaluation};
pub use event::{check_skew, parse_event, Event, InvalidEvent, InvalidReason};
pub use health::{Color, HealthResult};
pub use metrics::{Metrics, RedFlag};
pub use quality::{DataStatus, InputState};
pub use readiness::{ReadinessResult, Verdict};
