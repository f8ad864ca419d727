//! Validates dead letters against `schemas/events/dead-letter.schema.json`, with every
//! schema file registered by `$id` (as `tests/tests/schemas.rs` does). Shared by the
//! integration tests of each producer of dead letters (ingest, the scorer, the notifier).

use std::path::PathBuf;

fn schemas_dir() -> PathBuf {
    crate::repo_root().join("schemas/events")
}

/// The compiled dead-letter schema.
pub fn validator() -> jsonschema::Validator {
    let dir = schemas_dir();
    let mut opts = jsonschema::options().with_draft(jsonschema::Draft::Draft202012).should_validate_formats(true);
    let mut schema = serde_json::Value::Null;
    for entry in std::fs::read_dir(&dir).expect("schemas/events") {
        let path = entry.expect("entry").path();
        let Some(name) = path.file_name().and_then(|f| f.to_str()).map(str::to_owned) else { continue };
        if !name.ends_with(".schema.json") {
            continue;
        }
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read schema")).expect("schema json");
        if name == "dead-letter.schema.json" {
            schema = doc.clone();
        }
        let resource = jsonschema::Resource::from_contents(doc).expect("resource");
        opts = opts.with_resource(format!("https://pulse.invalid/schemas/events/{name}"), resource);
    }
    opts.build(&schema).expect("dead-letter schema compiles")
}

/// Panics with every violation when `payload` (a DLQ message) does not match the schema.
pub fn assert_valid(v: &jsonschema::Validator, payload: &[u8]) {
    let instance: serde_json::Value = serde_json::from_slice(payload).expect("dead letter is JSON");
    let errors: Vec<String> = v.iter_errors(&instance).map(|e| format!("{e} at `{}`", e.instance_path)).collect();
    assert!(errors.is_empty(), "dead letter does not match the schema: {}\n{instance}", errors.join("; "));
}
