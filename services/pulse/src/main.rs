//! `pulse`: one binary for every service and tool, so a deployment ships one artifact and
//! the services and `pulse replay` always run the same scoring code.

/// mimalloc instead of glibc's allocator: ingest allocates a message's copies, rows and
/// forwarded event on one thread and frees many of them on others (librdkafka's, the
/// write task's), where glibc's `free` took about a sixth of its CPU (docs/benchmarks.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pulse::cli::main()
}
