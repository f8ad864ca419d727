//! The deployment files (`docker-compose.yml`, `Dockerfile`, `deploy/`) agree with the
//! code, checked without Docker or a cluster:
//!
//! - every YAML and JSON file parses;
//! - every image is pinned to an explicit version (no `latest`, no bare name);
//! - every `pulse ...` command line is accepted by the real CLI definition
//!   (`pulse::cli::Cli`), arguments included;
//! - every `PULSE__SECTION__KEY` variable, together with the config file the container
//!   gets, loads into the real `pulse::settings::Settings` (unknown keys are errors);
//! - the port in each service's `http_listen` is the port of its health check, container
//!   port, probes, Service, scrape annotation and Prometheus target;
//! - alert rules are complete and name only metrics the code registers; the dashboard
//!   names only existing metrics, tables and data sources;
//! - compose `depends_on` conditions can be met; `deploy/k8s/next/` holds only services
//!   whose subcommand does not exist yet.

mod model;
mod rules;

use std::collections::{BTreeMap, BTreeSet};

use model::*;
use rules::*;
use serde_yaml::Value;

#[test]
fn every_file_parses() {
    let yaml = ["docker-compose.yml".to_owned()].into_iter().chain(files("deploy", &[".yml", ".yaml"]));
    for f in yaml {
        assert!(!yaml_docs(&f).is_empty(), "{f} is empty");
    }
    for f in files("deploy", &[".json"]) {
        serde_json::from_str::<serde_json::Value>(&read(&f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    assert!(
        read("Dockerfile").contains("ENTRYPOINT [\"pulse\"]"),
        "tests/tests/deploy assumes the image's entrypoint is pulse"
    );
}

#[test]
fn pinned_rule_rejects_floating_images() {
    for bad in ["postgres", "postgres:latest", "registry:5000/app", "grafana/grafana:main"] {
        assert!(pinned(bad).is_err(), "{bad}");
    }
    for good in ["apache/kafka:4.1.1", "registry:5000/app:1.2", "debian:13-slim", "x@sha256:abc"] {
        assert_eq!(pinned(good), Ok(()), "{good}");
    }
}

#[test]
fn every_image_is_pinned() {
    let mut images = Vec::new();
    for (name, svc) in compose()["services"].as_mapping().expect("services") {
        let image = svc["image"].as_str().unwrap_or_else(|| panic!("compose service {name:?} needs an image"));
        images.push((format!("compose {}", s(name)), interpolate(image)));
    }
    for next in [false, true] {
        for (file, o) in k8s_objects(next) {
            let spec = &o["spec"]["template"]["spec"];
            for c in strings_of_seq(&spec["initContainers"]).into_iter().chain(strings_of_seq(&spec["containers"])) {
                images.push((file.clone(), s(&c["image"])));
            }
        }
    }
    let stages: Vec<String> = read("Dockerfile")
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect();
    for line in read("Dockerfile").lines().filter_map(|l| l.strip_prefix("FROM ")) {
        let image = line.split_whitespace().next().unwrap_or_default();
        if !stages.iter().any(|st| st == image) {
            images.push(("Dockerfile".to_owned(), image.to_owned()));
        }
    }
    assert!(images.len() >= 10, "{images:?}");
    let bad: Vec<String> = images.iter().filter_map(|(o, i)| pinned(i).err().map(|e| format!("{o}: {e}"))).collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_pulse_command_is_valid() {
    let mut seen = BTreeSet::new();
    let dockerfile_cmd = vec!["--help".to_owned()];
    let runs = compose_runs().into_iter().chain(k8s_runs(false));
    let all: Vec<(String, Vec<String>)> = runs
        .flat_map(|r| r.invocations.into_iter().map(move |i| (r.origin.clone(), i)))
        .chain([("Dockerfile CMD".to_owned(), dockerfile_cmd)])
        .collect();
    for (origin, args) in &all {
        cli_accepts(args).unwrap_or_else(|e| panic!("{origin}: `pulse {}` is not valid:\n{e}", args.join(" ")));
        seen.extend(args.first().cloned());
    }
    for must in ["ingest", "scorer", "api", "collect", "migrate", "topics", "gen", "produce"] {
        assert!(seen.contains(must), "no deployment runs `pulse {must}`: {seen:?}");
    }
    // The check has teeth: a typo in a subcommand or a flag fails.
    for bad in [&["scorerr"][..], &["topics", "create", "--partitionz", "6"], &["gen", "demo", "--outptu", "-"]] {
        let bad: Vec<String> = bad.iter().map(|s| (*s).to_owned()).collect();
        assert!(cli_accepts(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn next_holds_only_coming_services() {
    let existing = subcommands();
    let runs = k8s_runs(true);
    // next/ exists only while some service is still to come.
    assert!(!repo().join("deploy/k8s/next").exists() || !runs.is_empty(), "deploy/k8s/next/ is empty: remove it");
    for run in runs {
        for args in &run.invocations {
            let sub = args.first().cloned().unwrap_or_default();
            assert!(
                !existing.contains(&sub),
                "{}: `pulse {sub}` exists now: move it out of next/ (and into kustomization.yaml)",
                run.origin
            );
        }
    }
    let applied = strings(&yaml_docs("deploy/k8s/kustomization.yaml")[0]["resources"]);
    assert!(applied.iter().all(|r| !r.contains("next/")), "kustomization.yaml must not apply next/");
    for f in k8s_files().iter().filter(|f| !f.contains("/next/") && !f.ends_with("kustomization.yaml")) {
        let name = f.rsplit('/').next().unwrap_or_default().to_owned();
        assert!(applied.contains(&name), "kustomization.yaml does not apply {f}");
    }
}

#[test]
fn every_env_var_is_a_real_setting() {
    let runs: Vec<PulseRun> = compose_runs().into_iter().chain(k8s_runs(false)).collect();
    let mut vars = BTreeSet::new();
    for run in &runs {
        settings_of(run);
        vars.extend(run.env.keys().filter(|k| k.starts_with("PULSE__")).cloned());
    }
    for must in ["PULSE__KAFKA__BROKERS", "PULSE__CLICKHOUSE__PASSWORD", "PULSE__INGEST__HTTP_LISTEN"] {
        assert!(vars.contains(must), "{must} is never set: {vars:?}");
    }
}

#[test]
fn bogus_env_vars_and_keys_are_rejected() {
    let ok = BTreeMap::from([("PULSE__KAFKA__BROKERS".to_owned(), "kafka:9092".to_owned())]);
    load_settings("", &ok).expect("a real key loads");
    for bogus in
        ["PULSE__KAFKA__BROKER", "PULSE__INGEST__HTTP_LISTN", "PULSE__BOGUS__KEY", "PULSE__SCORER__WEBHOOK__URI"]
    {
        let env = BTreeMap::from([(bogus.to_owned(), "x".to_owned())]);
        let err = load_settings("", &env).expect_err(bogus);
        assert!(format!("{err:#}").contains("unknown field"), "{bogus}: {err:#}");
    }
    assert!(load_settings("[ingest]\nhttp_listn = \"0.0.0.0:1\"\n", &BTreeMap::new()).is_err());
}

#[test]
fn ports_agree() {
    let prometheus = yaml_docs("deploy/prometheus/prometheus.yml").remove(0);
    let targets: BTreeSet<String> = prometheus["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
        .iter()
        .flat_map(|job| strings_of_seq(&job["static_configs"]))
        .flat_map(|sc| strings(&sc["targets"]))
        .collect();
    let mut checked = 0;
    for run in compose_runs() {
        let Some(service) = run.service() else {
            continue;
        };
        let listen = http_listen(&settings_of(&run), service);
        assert!(listen.starts_with("0.0.0.0:"), "{}: http_listen {listen} is unreachable in a container", run.origin);
        let port = port_of(&listen);
        let name = run.origin.rsplit(' ').next().expect("service name");
        let health = strings(&run.doc["healthcheck"]["test"]).join(" ");
        assert!(
            health.contains(&format!("127.0.0.1:{port}/")),
            "{}: health check `{health}` is not on {port}",
            run.origin
        );
        let published: Vec<String> = strings(&run.doc["ports"]);
        assert!(
            published.iter().any(|p| p.ends_with(&format!(":{port}"))),
            "{}: ports {published:?} miss {port}",
            run.origin
        );
        assert!(
            targets.contains(&format!("{name}:{port}")),
            "{}: prometheus.yml does not scrape {name}:{port}",
            run.origin
        );
        checked += 1;
    }
    let objects = k8s_objects(false);
    for run in k8s_runs(false) {
        let Some(service) = run.service() else {
            continue;
        };
        let listen = http_listen(&settings_of(&run), service);
        assert!(listen.starts_with("0.0.0.0:"), "{}: http_listen {listen} is unreachable in a pod", run.origin);
        let port = port_of(&listen);
        let named: BTreeMap<String, u16> = strings_of_seq(&run.doc["ports"])
            .iter()
            .map(|p| (s(&p["name"]), s(&p["containerPort"]).parse().expect("port number")))
            .collect();
        assert_eq!(named.get("http"), Some(&port), "{}: containerPort `http`", run.origin);
        let resolve = |v: &Value| match v {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            other => named.get(&s(other)).copied(),
        };
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            assert_eq!(resolve(&run.doc[probe]["httpGet"]["port"]), Some(port), "{}: {probe}", run.origin);
        }
        assert_eq!(s(&run.doc["readinessProbe"]["httpGet"]["path"]), "/readyz", "{}", run.origin);
        assert_eq!(s(&run.doc["livenessProbe"]["httpGet"]["path"]), "/healthz", "{}", run.origin);
        // The Deployment's scrape annotation and the Service that selects its pods.
        let deployment = objects
            .iter()
            .map(|(_, o)| o)
            .find(|o| o["kind"] == "Deployment" && run.origin.contains(&format!(" {} ", s(&o["metadata"]["name"]))))
            .expect("deployment of the container");
        let template = &deployment["spec"]["template"];
        assert_eq!(s(&template["metadata"]["annotations"]["prometheus.io/port"]), port.to_string(), "{}", run.origin);
        assert_eq!(s(&template["metadata"]["annotations"]["prometheus.io/scrape"]), "true", "{}", run.origin);
        let labels = template["metadata"]["labels"].as_mapping().expect("pod labels");
        let services: Vec<&Value> = objects
            .iter()
            .map(|(_, o)| o)
            .filter(|o| o["kind"] == "Service")
            .filter(|o| {
                o["spec"]["selector"].as_mapping().is_some_and(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
            })
            .collect();
        assert!(!services.is_empty(), "{}: no Service selects it", run.origin);
        for svc in services {
            for p in strings_of_seq(&svc["spec"]["ports"]) {
                assert_eq!(resolve(&p["targetPort"]), Some(port), "{}: Service targetPort", run.origin);
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "expected ingest, scorer, api and collect in compose and Kubernetes, checked {checked}");
}

#[test]
fn compose_dependencies_can_be_met() {
    let c = compose();
    let services = c["services"].as_mapping().expect("services");
    for (name, svc) in services {
        for (dep, cond) in svc["depends_on"].as_mapping().into_iter().flatten() {
            let target = services.get(dep).unwrap_or_else(|| panic!("{name:?} depends on unknown {dep:?}"));
            match cond["condition"].as_str() {
                Some("service_healthy") => assert!(!target["healthcheck"].is_null(), "{dep:?} has no healthcheck"),
                Some("service_completed_successfully") => {
                    assert_eq!(target["restart"], "no", "{dep:?} must not restart")
                }
                other => panic!("{name:?} -> {dep:?}: use a condition, not {other:?}"),
            }
        }
    }
    for run in compose_runs().iter().filter(|r| r.service().is_some()) {
        assert!(!run.doc["healthcheck"].is_null(), "{} needs a healthcheck", run.origin);
    }
}

#[test]
fn alert_rules_are_complete_and_name_real_metrics() {
    let known = registered_metrics();
    assert!(known.contains("pulse_ingest_consumer_lag_messages"), "{known:?}");
    // A labelled vector with no sample yet (absent from `/metrics` until its first error)
    // is registered all the same; a name nobody registers is not.
    assert!(known.contains("pulse_scorer_errors_total") && known.contains("pulse_api_requests_total"), "{known:?}");
    assert!(!known.contains("pulse_ingest_bogus_total") && !known.contains("pulse_ingest_paused_bucket"));
    let rules = yaml_docs("deploy/prometheus/alerts.yml").remove(0);
    let mut alerts = BTreeSet::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        let group_name = s(&group["name"]);
        for rule in group["rules"].as_sequence().expect("rules") {
            let Some(alert) = rule["alert"].as_str() else {
                continue;
            };
            let expr = rule["expr"].as_str().unwrap_or_default();
            assert!(!expr.trim().is_empty(), "{alert}: no expr");
            let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
            assert!(["critical", "warning", "info"].contains(&severity), "{alert}: severity `{severity}`");
            assert!(rule["annotations"]["summary"].as_str().is_some_and(|x| !x.is_empty()), "{alert}: no summary");
            assert!(alerts.insert(alert.to_owned()), "{alert} defined twice");
            // Rules for services still to come live in a group named `...next...`.
            if group_name.contains("next") {
                continue;
            }
            for m in metrics_in(expr, &known) {
                assert!(known.contains(&m), "{alert}: metric {m} is not registered by any service");
            }
        }
    }
    for must in [
        "PulseIngestConsumerLagHigh",
        "PulseDeadLetterRateHigh",
        "PulseIngestPaused",
        "PulseClickHouseInsertErrors",
        "PulseCollectUnavailable",
    ] {
        assert!(alerts.contains(must), "missing alert {must}");
    }
    let prometheus = yaml_docs("deploy/prometheus/prometheus.yml").remove(0);
    for f in strings(&prometheus["rule_files"]) {
        assert!(repo().join("deploy/prometheus").join(&f).exists(), "rule file {f} missing");
    }
    // The metric-name check has teeth.
    assert_eq!(metrics_in("rate(pulse_ingest_bogus_total[5m])", &known), ["pulse_ingest_bogus_total"]);
    assert_eq!(
        metrics_in("x{job=\"pulse-ingest\"} + pulse_ingest_batch_flush_duration_seconds_bucket", &known),
        ["pulse_ingest_batch_flush_duration_seconds"]
    );
}

#[test]
fn dashboard_names_real_metrics_tables_and_datasources() {
    let known = registered_metrics();
    let ddl: String = files("schemas/clickhouse", &[".sql"]).iter().map(|f| read(f)).collect();
    let provisioned: BTreeSet<String> = yaml_docs("deploy/grafana/provisioning/datasources/clickhouse.yml")[0]
        ["datasources"]
        .as_sequence()
        .expect("datasources")
        .iter()
        .map(|d| s(&d["uid"]))
        .collect();
    for f in files("deploy/grafana/dashboards", &[".json"]) {
        let dash: serde_json::Value = serde_json::from_str(&read(&f)).expect("JSON");
        let panels = dash["panels"].as_array().expect("panels");
        for p in panels.iter().filter(|p| p["type"] != "row") {
            let title = p["title"].as_str().unwrap_or_default();
            let uid = p["datasource"]["uid"].as_str().unwrap_or_default();
            assert!(provisioned.contains(uid), "{f} `{title}`: datasource {uid} is not provisioned");
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    for m in metrics_in(expr, &known) {
                        assert!(known.contains(&m), "{f} `{title}`: metric {m} is not registered");
                    }
                }
                if let Some(sql) = t["rawSql"].as_str() {
                    for (i, _) in sql.match_indices("pulse.") {
                        let table: String =
                            sql[i + 6..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                        assert!(
                            ddl.contains(&format!("CREATE TABLE IF NOT EXISTS {table}\n")),
                            "{f} `{title}`: no table {table}"
                        );
                    }
                }
            }
        }
    }
}
