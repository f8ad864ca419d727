//! The `pulse` binary's library half: the whole configuration ([`settings::Settings`]) and
//! one module per subcommand. `main.rs` only parses arguments and dispatches.

pub mod cli;
pub mod cmd;
pub mod settings;
