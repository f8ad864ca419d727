//! The scorecard as code: the default file, validation errors naming the key path,
//! the config version, and override resolution.

use pulse_core::config::{Effective, Share};
use pulse_core::event::UsageProfile;
use pulse_core::ScoringConfig;

const DEFAULT_FILE: &str = include_str!("../../../config/scoring.toml");

#[test]
fn default_file_is_the_spec_default() {
    let from_file = ScoringConfig::from_toml_str(DEFAULT_FILE).expect("default file is valid");
    assert_eq!(from_file, ScoringConfig::default());
    assert_eq!(ScoringConfig::from_toml_str("").expect("empty is valid"), ScoringConfig::default());
    ScoringConfig::default().validate().expect("default is valid");
}

fn check(toml: &str, expect: Result<(), &str>) {
    let got = ScoringConfig::from_toml_str(toml);
    match (&got, expect) {
        (Ok(_), Ok(())) => {}
        (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "{toml}\n got: {e}\nwant: {msg}"),
        _ => panic!("{toml}\nexpected {expect:?}, got {got:?}"),
    }
}

#[test]
fn validation() {
    let cases: &[(&str, Result<(), &str>)] = &[
        ("[health.weights]\nadoption = 40\ntrend = 25\nbreadth = 15\nstickiness = 10\nsentiment = 5",
            Err("health.weights: weights sum to 95, expected 100")),
        ("[health.weights]\nadoption = 40\ntrend = 25\nbreadth = 15\nstickiness = 10\nfoo = 10",
            Err("health.weights.foo: unknown measure `foo`, expected one of adoption, trend, breadth, stickiness, sentiment")),
        ("[health.weights]\nadoption = 110\ntrend = -10", Err("health.weights.adoption: 110 is out of range 0..=100")),
        ("[health.weights]\nadoption = 100", Ok(())),
        ("[readiness.weights]\ntechnical = 30\nknowledge = 20\nusage = 20\nvalue = 30\nstakeholder = 10",
            Err("readiness.weights: weights sum to 110, expected 100")),
        ("[readiness.weights]\ntechnical = 50\nvibes = 50", Err("readiness.weights.vibes: unknown dimension `vibes`")),
        ("[profiles.daily]\nthresholds = { wau_pct = 120 }\nprimary = \"wau_pct\"",
            Err("profiles.daily.thresholds.wau_pct: threshold 120 is out of range (0, 100]")),
        ("[profiles.daily]\nthresholds = { wau_pct = 0 }\nprimary = \"wau_pct\"", Err("profiles.daily.thresholds.wau_pct: threshold 0")),
        ("[profiles.weekly]\nthresholds = { xau_pct = 50 }\nprimary = \"mau_pct\"",
            Err("profiles.weekly.thresholds.xau_pct: unknown measure `xau_pct`, expected one of dau_pct, wau_pct, mau_pct")),
        ("[profiles.weekly]\nthresholds = {}\nprimary = \"mau_pct\"", Err("profiles.weekly.thresholds: at least one")),
        ("[profiles.weekly]\nthresholds = { mau_pct = 50 }\nprimary = \"dau\"", Err("profiles.weekly.primary: unknown measure `dau`")),
        ("[profiles.weekly]\nthresholds = { mau_pct = 50 }\nprimary = \"mau_pct\"\nstickiness_target = 2", Err("profiles.weekly.stickiness_target: 2 is out of range")),
        ("horizon_days = 70", Err("horizon_days: 70 is out of range 35..=63")),
        ("horizon_days = 35", Ok(())),
        ("horizon_days = 63", Ok(())),
        ("core_features = [\"a\", \"a\"]", Err("core_features[1]: duplicate feature `a`")),
        ("core_features = [\"\"]", Err("core_features[0]: must not be empty")),
        ("[readiness]\nready_total = 6\nclose_total = 7", Err("readiness.close_total: 7 is above ready_total 6")),
        ("[readiness]\ngreen_dimension = 11", Err("readiness.green_dimension: 11 is out of range 0..=10")),
        ("[health.bands]\ngreen = 40\nyellow = 70", Err("health.bands.yellow: 70 is above green 40")),
        ("[health.trend]\nfull_at_pct = -30\nzero_at_pct = 0", Err("health.trend.zero_at_pct: 0 must be below full_at_pct -30")),
        ("[evidence]\ntraining_pass_pct = 0", Err("evidence.training_pass_pct: 0 is out of range (0, 100]")),
        ("[red_flags]\nusage_declining_pct = 10", Err("red_flags.usage_declining_pct: 10 is out of range -100..=0")),
        ("[alerts.usage_declining]\nopen_at_pct = -5\nresolve_at_pct = -10",
            Err("alerts.usage_declining.resolve_at_pct: -10 must be >= open_at_pct -5 (hysteresis)")),
        ("[alerts.low_engagement]\nopen_at_pct = 50\nresolve_at_pct = 45", Err("alerts.low_engagement.resolve_at_pct: 45 must be >= open_at_pct 50")),
        ("[alerts.low_engagement]\nopen_at_pct = 50\nresolve_at_pct = 50\nseverity = \"critical\"\nenabled = false", Ok(())),
        ("[alerts.low_engagement]\nopen_at_pct = 50\nresolve_at_pct = 50\nseverity = \"loud\"", Err("invalid scoring config")),
        ("[[overrides]]\nhealth_bands = { green = 80, yellow = 50 }", Err("overrides[0]: needs `segment` and/or `profile`")),
        ("[[overrides]]\nsegment = \"smb\"\nhealth_weights = { adoption = 50 }", Err("overrides[0].health_weights: weights sum to 50, expected 100")),
        ("[[overrides]]\nprofile = \"daily\"\nusage_thresholds = { wau_pct = 70, foo = 1 }", Err("overrides[0].usage_thresholds.foo: unknown measure `foo`")),
        ("[[overrides]]\nprofile = \"hourly\"", Err("invalid scoring config")),
        ("[[overrides]]\nsegment = \"smb\"\nprofile = \"weekly\"\nusage_thresholds = { mau_pct = 60 }\nlow_engagement_pct = 40\nstickiness_target = 0.3", Ok(())),
        ("[quality]\nstale_after_days = 0", Err("quality.stale_after_days: 0 is out of range 1..=3650 days")),
        ("[quality]\nstale_after_days = 3651", Err("quality.stale_after_days: 3651 is out of range")),
        ("[quality]\nstale_after_days = 3650", Ok(())),
        ("[quality.measures]\nsentiment = 30\nadoption = 1", Ok(())),
        ("[quality.measures]\ntrend = 30", Err("quality.measures.trend: `trend` is fed by usage and never stale from age")),
        ("[quality.measures]\nmood = 30", Err("quality.measures.mood: unknown measure `mood`")),
        ("[quality.dimensions]\ntechnical = 180\nstakeholder = 30", Ok(())),
        ("[quality.dimensions]\nvibes = 30", Err("quality.dimensions.vibes: unknown dimension `vibes`")),
        ("[quality.dimensions]\nvalue = 0", Err("quality.dimensions.value: 0 is out of range")),
        ("[quality]\nstale_days = 90", Err("unknown field `stale_days`")),
        ("horizon = 60", Err("unknown field `horizon`")),
        ("[health]\nweigths = {}", Err("unknown field `weigths`")),
        ("horizon_days = \"60\"", Err("invalid scoring config")),
        ("not toml [", Err("invalid scoring config")),
    ];
    for (toml, expect) in cases {
        check(toml, *expect);
    }
}

#[test]
fn version_hashes_the_effective_config() {
    let v = ScoringConfig::default().version();
    assert_eq!(v.len(), 12);
    assert!(v.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(v, ScoringConfig::default().version(), "stable");
    let reordered =
        "[health.weights]\nsentiment = 10\nstickiness = 10\nbreadth = 15\ntrend = 25\nadoption = 40\n# comment";
    assert_eq!(
        ScoringConfig::from_toml_str(reordered).expect("valid").version(),
        v,
        "order and comments do not matter"
    );
    assert_eq!(ScoringConfig::from_toml_str(DEFAULT_FILE).expect("valid").version(), v);
    let changed = ScoringConfig::from_toml_str("[health.bands]\ngreen = 75").expect("valid");
    assert_ne!(changed.version(), v);
    // SPEC v3 §10: the staleness limits are part of the version, each of them
    let limits = [
        "[quality]\nstale_after_days = 60",
        "[quality.measures]\nsentiment = 60",
        "[quality.dimensions]\ntechnical = 60",
    ];
    let versions: std::collections::BTreeSet<String> =
        limits.iter().map(|t| ScoringConfig::from_toml_str(t).expect("valid").version()).chain([v.clone()]).collect();
    assert_eq!(versions.len(), limits.len() + 1, "each limit changes the version");
    assert_eq!(
        ScoringConfig::from_toml_str("[quality]\nstale_after_days = 90").expect("valid").version(),
        v,
        "the default limit written out is the default"
    );
}

#[test]
fn overrides_resolve_in_file_order() {
    let c = ScoringConfig::from_toml_str(
        r#"
        [[overrides]]
        profile = "daily"
        low_engagement_pct = 40
        usage_thresholds = { wau_pct = 60 }

        [[overrides]]
        segment = "enterprise"
        low_engagement_pct = 30

        [[overrides]]
        segment = "enterprise"
        profile = "weekly"
        health_bands = { green = 80, yellow = 50 }
        "#,
    )
    .expect("valid");
    let e = |seg: Option<&str>, p| -> Effective { c.effective(seg, p) };
    // (segment, profile) -> (low_engagement_pct, thresholds, green)
    let cases = [
        (None, UsageProfile::Weekly, 50.0, vec![(Share::MauPct, 70.0), (Share::WauPct, 40.0)], 70.0),
        (None, UsageProfile::Daily, 40.0, vec![(Share::WauPct, 60.0)], 70.0),
        (Some("enterprise"), UsageProfile::Daily, 30.0, vec![(Share::WauPct, 60.0)], 70.0),
        (Some("enterprise"), UsageProfile::Weekly, 30.0, vec![(Share::MauPct, 70.0), (Share::WauPct, 40.0)], 80.0),
        (Some("smb"), UsageProfile::Periodic, 50.0, vec![(Share::MauPct, 50.0)], 70.0),
    ];
    for (seg, p, low, thresholds, green) in cases {
        let got = e(seg, p);
        assert_eq!(
            (got.low_engagement_pct, got.thresholds, got.bands.green),
            (low, thresholds, green),
            "{seg:?} {p:?}"
        );
    }
}

/// A whole `pulse.toml` loads through its `[scoring]` table (the other sections are the
/// services' business); errors name the key with its table.
#[test]
fn a_scoring_section_loads_like_a_scoring_file() {
    let plain = ScoringConfig::from_toml_str("horizon_days = 40\n").expect("plain");
    assert_eq!(plain.horizon_days, 40);
    let section =
        ScoringConfig::from_toml_str("[kafka]\nbrokers = \"x\"\n\n[scoring]\nhorizon_days = 41\n").expect("section");
    assert_eq!(section.horizon_days, 41);
    assert_eq!(ScoringConfig::from_toml_str("").expect("empty"), ScoringConfig::default());
    let e = ScoringConfig::from_toml_str("horizon_dayz = 40\n").expect_err("typo").to_string();
    assert!(e.contains("horizon_dayz"), "{e}");
    let e = ScoringConfig::from_toml_str("[scoring]\nhorizon_days = 5\n").expect_err("range").to_string();
    assert!(e.contains("scoring.horizon_days"), "{e}");
    let e = ScoringConfig::from_toml_str("[scoring]\nhorizon_dayz = 40\n").expect_err("typo").to_string();
    assert!(e.contains("horizon_dayz"), "{e}");
}
