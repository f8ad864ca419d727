//! `pulse`: one binary for every service and tool, so a deployment ships one artifact and
//! the services and `pulse replay` always run the same scoring code.

fn main() -> std::process::ExitCode {
    pulse::cli::main()
}
