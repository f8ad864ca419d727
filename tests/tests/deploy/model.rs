//! What the deployment files say, as data: YAML loading (merge keys applied), the
//! places the pulse image runs in compose and Kubernetes ([`PulseRun`]: command lines,
//! environment, config file, files it can see) and the real settings loader.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    sync::Mutex,
};

use pulse::settings::Settings;
use serde::Deserialize as _;
use serde_yaml::Value;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn read(rel: &str) -> String {
    fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// All documents of a YAML file, with `<<` merge keys applied.
pub fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let mut v = Value::deserialize(doc).unwrap_or_else(|e| panic!("{rel}: {e}"));
            v.apply_merge().unwrap_or_else(|e| panic!("{rel}: {e}"));
            v
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// Files under `dir` (relative to the repository) whose name ends with one of `exts`.
pub fn files(dir: &str, exts: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![repo().join(dir)];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if exts.iter().any(|x| p.to_string_lossy().ends_with(x)) {
                let rel = p.strip_prefix(repo()).expect("under repo").to_string_lossy().into_owned();
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

pub fn k8s_files() -> Vec<String> {
    files("deploy/k8s", &[".yaml", ".yml"])
}

pub fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().map(s).collect(),
        Value::Null => Vec::new(),
        other => vec![s(other)],
    }
}

/// Compose interpolation as the file uses it: `${VAR:-default}` becomes the default.
pub fn interpolate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map(|e| start + e).unwrap_or_else(|| panic!("unclosed ${{ in {text}"));
        let inner = &rest[start + 2..end];
        let (_, default) = inner.split_once(":-").unwrap_or_else(|| panic!("`{text}`: give ${{{inner}}} a default"));
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

// ---- the pulse containers of compose and Kubernetes --------------------------------

/// One place where the pulse image runs.
#[derive(Debug)]
pub struct PulseRun {
    pub origin: String,
    /// Every `pulse` command line it runs (arguments after `pulse`).
    pub invocations: Vec<Vec<String>>,
    pub env: BTreeMap<String, String>,
    /// The config file it gets (`PULSE_CONFIG`), as text.
    pub config: String,
    /// Files the container sees (path in the container -> file in this repository):
    /// the image's `COPY`s and compose bind mounts, so a setting naming a file (e.g.
    /// `scorer.scoring_config`) is checked against the file that will be there.
    pub files: BTreeMap<String, PathBuf>,
    pub doc: Value,
}

impl PulseRun {
    /// The long-running service, if this runs one: the subcommand of its only command.
    pub fn service(&self) -> Option<&str> {
        match self.invocations.as_slice() {
            [one] => one.first().map(String::as_str).filter(|c| ["ingest", "scorer", "api", "collect"].contains(c)),
            _ => None,
        }
    }
}

/// `pulse` command lines in a shell script (`a | b && c; d`).
pub fn shell_invocations(script: &str) -> Vec<Vec<String>> {
    script
        .split(['|', ';', '&'])
        .map(|part| part.split_whitespace().map(|w| w.trim_matches(['"', '\'']).to_owned()).collect::<Vec<_>>())
        .filter(|words| words.first().is_some_and(|w| w == "pulse" || w.ends_with("/pulse")))
        .map(|words| words[1..].to_vec())
        .collect()
}

/// Command lines of a container: `entrypoint`/`command` override the image's
/// `ENTRYPOINT ["pulse"]`, the rest are its arguments.
pub fn invocations(entrypoint: Vec<String>, args: Vec<String>) -> Vec<Vec<String>> {
    let mut argv = if entrypoint.is_empty() { vec!["pulse".to_owned()] } else { entrypoint };
    argv.extend(args);
    match argv.first().map(String::as_str) {
        Some("pulse") => vec![argv[1..].to_vec()],
        Some("sh" | "/bin/sh" | "bash") if argv.get(1).map(String::as_str) == Some("-c") => {
            argv.get(2).map(|script| shell_invocations(script)).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

pub fn is_pulse_image(image: &str) -> bool {
    let name = image.split(['@', ':']).next().unwrap_or_default();
    name == "pulse" || name.ends_with("/pulse")
}

/// `COPY <repo path> <image path>` lines of the Dockerfile (not `--from` a stage).
pub fn image_files() -> BTreeMap<String, PathBuf> {
    read("Dockerfile")
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--") && !l.starts_with(". "))
        .filter_map(|l| l.split_once(' '))
        .map(|(src, dst)| (dst.trim().to_owned(), repo().join(src)))
        .collect()
}

pub fn compose() -> Value {
    yaml_docs("docker-compose.yml").remove(0)
}

pub fn compose_runs() -> Vec<PulseRun> {
    let c = compose();
    let services = c["services"].as_mapping().expect("services");
    let mut out = Vec::new();
    for (name, svc) in services {
        if !svc["image"].as_str().map(interpolate).is_some_and(|i| is_pulse_image(&i)) {
            continue;
        }
        let env = match &svc["environment"] {
            Value::Mapping(m) => m.iter().map(|(k, v)| (s(k), interpolate(&s(v)))).collect(),
            Value::Sequence(items) => items
                .iter()
                .map(|i| {
                    let kv = s(i);
                    let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                    (k.to_owned(), interpolate(v))
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        let mut files = image_files();
        for volume in strings(&svc["volumes"]) {
            let mut parts = volume.split(':');
            if let (Some(src), Some(dst)) = (parts.next(), parts.next()) {
                if src.starts_with("./") {
                    files.insert(dst.to_owned(), repo().join(src));
                }
            }
        }
        // A config file given by PULSE_CONFIG must be one the container sees (a mount).
        let config = env.get("PULSE_CONFIG").map_or_else(String::new, |path| {
            let local =
                files.get(path).unwrap_or_else(|| panic!("compose {}: PULSE_CONFIG {path} is not mounted", s(name)));
            fs::read_to_string(local).unwrap_or_else(|e| panic!("{}: {e}", local.display()))
        });
        out.push(PulseRun {
            origin: format!("docker-compose.yml service {}", s(name)),
            invocations: invocations(strings(&svc["entrypoint"]), strings(&svc["command"])),
            env,
            config,
            files,
            doc: svc.clone(),
        });
    }
    out
}

/// Every Kubernetes object of the main set (or of `next/`).
pub fn k8s_objects(next: bool) -> Vec<(String, Value)> {
    k8s_files()
        .into_iter()
        .filter(|f| f.contains("/next/") == next && !f.ends_with("kustomization.yaml"))
        .flat_map(|f| yaml_docs(&f).into_iter().map(move |d| (f.clone(), d)))
        .collect()
}

pub fn find_kind<'a>(objects: &'a [(String, Value)], kind: &str, name: &str) -> Option<&'a Value> {
    objects.iter().map(|(_, o)| o).find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

/// The data of a Secret (`stringData`) or ConfigMap (`data`).
pub fn k8s_data(objects: &[(String, Value)], kind: &str, name: &str, key: &str) -> Option<String> {
    let o = find_kind(objects, kind, name)?;
    let data = if kind == "Secret" { &o["stringData"] } else { &o["data"] };
    data.get(key).map(s)
}

pub fn k8s_runs(next: bool) -> Vec<PulseRun> {
    let objects = k8s_objects(next);
    let main = k8s_objects(false);
    let mut out = Vec::new();
    for (file, o) in &objects {
        let spec = match o["kind"].as_str() {
            Some("Deployment" | "Job" | "StatefulSet" | "DaemonSet") => &o["spec"]["template"]["spec"],
            _ => continue,
        };
        let containers = strings_of_seq(&spec["initContainers"]).into_iter().chain(strings_of_seq(&spec["containers"]));
        for c in containers {
            if !is_pulse_image(&s(&c["image"])) {
                continue;
            }
            let mut env = BTreeMap::new();
            for e in c["env"].as_sequence().into_iter().flatten() {
                let secret = &e["valueFrom"]["secretKeyRef"];
                let value = if secret.is_null() {
                    s(&e["value"])
                } else {
                    match k8s_data(&main, "Secret", &s(&secret["name"]), &s(&secret["key"])) {
                        Some(v) => v,
                        None if secret["optional"] == true => continue,
                        None => panic!("{file}: secret key {secret:?} does not exist"),
                    }
                };
                env.insert(s(&e["name"]), value);
            }
            // The pod's pulse.toml: the ConfigMap plus the Secret's kafka.toml (the
            // `config` init container concatenates them).
            let config = format!(
                "{}\n{}",
                k8s_data(&main, "ConfigMap", "pulse-config", "pulse.toml").expect("pulse-config has pulse.toml"),
                k8s_data(&main, "Secret", "pulse-secrets", "kafka.toml").unwrap_or_default()
            );
            out.push(PulseRun {
                origin: format!("{file} {} container {}", s(&o["metadata"]["name"]), s(&c["name"])),
                invocations: invocations(strings(&c["command"]), strings(&c["args"])),
                env,
                config,
                files: image_files(),
                doc: c.clone(),
            });
        }
    }
    out
}

pub fn strings_of_seq(v: &Value) -> Vec<Value> {
    v.as_sequence().cloned().unwrap_or_default()
}

// ---- settings -------------------------------------------------------------------------

static ENV_LOCK: Mutex<()> = Mutex::new(());

/// Loads the real `Settings` from a config file and `PULSE__*` variables, through the
/// real loader (the only way to be exact about env parsing). The process environment
/// is shared, hence the lock; other PULSE__ variables are set aside meanwhile.
pub fn load_settings(config: &str, env: &BTreeMap<String, String>) -> anyhow::Result<Settings> {
    let _guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let file = tempfile::NamedTempFile::new()?;
    fs::write(file.path(), config)?;
    let saved: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("PULSE__")).collect();
    for (k, _) in &saved {
        std::env::remove_var(k);
    }
    for (k, v) in env.iter().filter(|(k, _)| k.starts_with("PULSE__")) {
        std::env::set_var(k, v);
    }
    let result = Settings::load(Some(file.path()));
    for k in env.keys().filter(|k| k.starts_with("PULSE__")) {
        std::env::remove_var(k);
    }
    for (k, v) in saved {
        std::env::set_var(k, v);
    }
    result
}

pub fn settings_of(run: &PulseRun) -> Settings {
    // Paths in the container become the repository files that will be there.
    let localize = |text: &str| {
        run.files
            .iter()
            .fold(text.to_owned(), |t, (inside, local)| t.replace(inside.as_str(), &local.to_string_lossy()))
    };
    let env = run.env.iter().map(|(k, v)| (k.clone(), localize(v))).collect();
    load_settings(&localize(&run.config), &env).unwrap_or_else(|e| panic!("{}: {e:#}", run.origin))
}

/// The `http_listen` of a service subcommand.
pub fn http_listen(settings: &Settings, service: &str) -> String {
    match service {
        "ingest" => settings.ingest.http_listen.clone(),
        "scorer" => settings.scorer.http_listen.clone(),
        "api" => settings.api.http_listen.clone(),
        "collect" => settings.collect.http_listen.clone(),
        other => panic!("teach tests/tests/deploy/model.rs where `pulse {other}` listens"),
    }
}

pub fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in `{addr}`"))
}
