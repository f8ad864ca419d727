//! The rules the deployment checks apply, as small functions the tests also exercise
//! with counter-examples.

use std::collections::BTreeSet;

use clap::CommandFactory;

/// `Ok` when the image names an explicit version.
pub fn pinned(image: &str) -> Result<(), String> {
    if image.contains("@sha256:") {
        return Ok(());
    }
    let tag = image.rsplit('/').next().and_then(|last| last.split_once(':')).map(|(_, t)| t);
    match tag {
        None => Err(format!("`{image}` has no tag")),
        Some("latest") => Err(format!("`{image}` uses latest")),
        Some(t) if !t.chars().any(|c| c.is_ascii_digit()) => Err(format!("`{image}`: tag `{t}` is not a version")),
        Some(_) => Ok(()),
    }
}

pub fn subcommands() -> BTreeSet<String> {
    pulse::cli::Cli::command().get_subcommands().map(|c| c.get_name().to_owned()).collect()
}

/// Parses `pulse <args>` with the real CLI; `--help`/`--version` count as valid.
pub fn cli_accepts(args: &[String]) -> Result<(), String> {
    let argv = std::iter::once("pulse".to_owned()).chain(args.iter().cloned());
    match pulse::cli::Cli::command().try_get_matches_from(argv) {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The metrics the services register, read from their real registries: each service's
/// metric set registered into a fresh `Registry` exactly as `pulse ingest`, `pulse
/// scorer`, `pulse api` and `pulse collect` do at start-up.
pub struct Registered(Vec<(&'static str, prometheus::Registry)>);

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // What `/metrics` would show now (families with a sample).
        let mut m = f.debug_map();
        for (service, r) in &self.0 {
            m.entry(service, &r.gather().iter().map(|mf| mf.name().to_owned()).collect::<Vec<_>>());
        }
        m.finish()
    }
}

impl Registered {
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(_, r)| is_registered(r, name))
    }
}

pub fn registered_metrics() -> Registered {
    let ingest = prometheus::Registry::new();
    pulse_ingest::metrics::IngestMetrics::new(&ingest);
    let scorer = prometheus::Registry::new();
    pulse_scorer::ScorerMetrics::new(&scorer);
    let api = prometheus::Registry::new();
    pulse_api::metrics::ApiMetrics::new(&api);
    let collect = prometheus::Registry::new();
    pulse_collect::CollectMetrics::new(&collect);
    Registered(vec![("ingest", ingest), ("scorer", scorer), ("api", api), ("collect", collect)])
}

/// Whether `registry` holds a metric family named `name`. `Registry::gather` lists only
/// families with a sample (a labelled vector with no label values yet is missing), so
/// the registry is asked instead: it refuses to register a probe under a name it holds
/// (whatever the help and labels), and accepts (then forgets) any other.
fn is_registered(registry: &prometheus::Registry, name: &str) -> bool {
    let Ok(probe) = prometheus::IntGauge::new(name, "probe") else {
        return false; // not a valid metric name
    };
    match registry.register(Box::new(probe.clone())) {
        Ok(()) => {
            registry.unregister(Box::new(probe)).expect("the probe unregisters");
            false
        }
        Err(_) => true,
    }
}

/// `pulse_*` metric names in a PromQL expression, histogram suffixes removed.
pub fn metrics_in(expr: &str, known: &Registered) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in expr.match_indices("pulse_") {
        if expr[..i].chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = expr[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|b| known.contains(b)))
            .map_or(name.clone(), str::to_owned);
        out.push(base);
    }
    out
}
