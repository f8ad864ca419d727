//! Validation of a [`ScoringConfig`]: one function per section, each error naming
//! the key path so the user can go straight to the line.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::event::Dimension;

type R = Result<(), ConfigError>;

const EPS: f64 = 1e-6;

pub(super) fn validate(c: &ScoringConfig) -> R {
    if !(MIN_HORIZON_DAYS..=MAX_HORIZON_DAYS).contains(&c.horizon_days) {
        return Err(ConfigError::invalid(
            "horizon_days",
            format!(
                "{} is out of range {MIN_HORIZON_DAYS}..={MAX_HORIZON_DAYS} (activity is kept for horizon_days + 56 days, at most 128)",
                c.horizon_days
            ),
        ));
    }
    core_features(&c.core_features)?;
    for p in UsageProfile::ALL {
        profile(&format!("profiles.{}", p.as_str()), c.profiles.get(p))?;
    }
    readiness(&c.readiness)?;
    evidence(&c.evidence)?;
    red_flags(&c.red_flags)?;
    health(&c.health)?;
    alerts(&c.alerts)?;
    quality(&c.quality)?;
    for (i, o) in c.overrides.iter().enumerate() {
        override_(&format!("overrides[{i}]"), o)?;
    }
    Ok(())
}

fn fmt_num(x: f64) -> String {
    // 95 rather than 95.0 in messages: weights are usually integers.
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn range(path: &str, x: f64, lo: f64, hi: f64) -> R {
    if !x.is_finite() || x < lo || x > hi {
        return Err(ConfigError::invalid(
            path,
            format!("{} is out of range {}..={}", fmt_num(x), fmt_num(lo), fmt_num(hi)),
        ));
    }
    Ok(())
}

fn core_features(features: &[String]) -> R {
    if features.len() > MAX_CORE_FEATURES {
        return Err(ConfigError::invalid(
            "core_features",
            format!("{} features, at most {MAX_CORE_FEATURES}", features.len()),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, f) in features.iter().enumerate() {
        if f.is_empty() {
            return Err(ConfigError::invalid(format!("core_features[{i}]"), "must not be empty"));
        }
        if !seen.insert(f.as_str()) {
            return Err(ConfigError::invalid(format!("core_features[{i}]"), format!("duplicate feature `{f}`")));
        }
    }
    Ok(())
}

/// Percent weights keyed by name: known names only, none negative, sum 100.
pub(super) fn weights(path: &str, w: &BTreeMap<String, f64>, known: &[&str], what: &str) -> R {
    for (k, v) in w {
        if !known.contains(&k.as_str()) {
            return Err(ConfigError::invalid(
                format!("{path}.{k}"),
                format!("unknown {what} `{k}`, expected one of {}", known.join(", ")),
            ));
        }
        range(&format!("{path}.{k}"), *v, 0.0, 100.0)?;
    }
    let sum: f64 = w.values().sum();
    if (sum - 100.0).abs() > EPS {
        return Err(ConfigError::invalid(
            path,
            format!("weights sum to {}, expected 100", fmt_num((sum * 1e6).round() / 1e6)),
        ));
    }
    Ok(())
}

fn thresholds(path: &str, t: &BTreeMap<String, f64>) -> R {
    if t.is_empty() {
        return Err(ConfigError::invalid(path, "at least one threshold is needed"));
    }
    for (k, v) in t {
        if Share::parse(k).is_none() {
            return Err(ConfigError::invalid(
                format!("{path}.{k}"),
                format!("unknown measure `{k}`, expected one of {}", Share::NAMES.join(", ")),
            ));
        }
        if !v.is_finite() || *v <= 0.0 || *v > 100.0 {
            return Err(ConfigError::invalid(
                format!("{path}.{k}"),
                format!("threshold {} is out of range (0, 100] percent", fmt_num(*v)),
            ));
        }
    }
    Ok(())
}

fn stickiness_target(path: &str, t: Option<f64>) -> R {
    match t {
        Some(x) if !x.is_finite() || x <= 0.0 || x > 1.0 => {
            Err(ConfigError::invalid(path, format!("{} is out of range (0, 1] (a DAU/MAU ratio)", fmt_num(x))))
        }
        _ => Ok(()),
    }
}

fn profile(path: &str, p: &ProfileConfig) -> R {
    thresholds(&format!("{path}.thresholds"), &p.thresholds)?;
    if Share::parse(&p.primary).is_none() {
        return Err(ConfigError::invalid(
            format!("{path}.primary"),
            format!("unknown measure `{}`, expected one of {}", p.primary, Share::NAMES.join(", ")),
        ));
    }
    stickiness_target(&format!("{path}.stickiness_target"), p.stickiness_target)
}

fn dimension_names() -> Vec<&'static str> {
    Dimension::ALL.iter().map(|d| d.as_str()).collect()
}

fn readiness(r: &ReadinessConfig) -> R {
    weights("readiness.weights", &r.weights, &dimension_names(), "dimension")?;
    range("readiness.ready_total", r.ready_total, 0.0, 10.0)?;
    range("readiness.close_total", r.close_total, 0.0, 10.0)?;
    range("readiness.green_dimension", r.green_dimension, 0.0, 10.0)?;
    if r.close_total > r.ready_total {
        return Err(ConfigError::invalid(
            "readiness.close_total",
            format!("{} is above ready_total {}", fmt_num(r.close_total), fmt_num(r.ready_total)),
        ));
    }
    Ok(())
}

fn evidence(e: &EvidenceConfig) -> R {
    let mut seen = BTreeSet::new();
    for (i, item) in e.technical_checklist.iter().enumerate() {
        let path = format!("evidence.technical_checklist[{i}]");
        if item.is_empty() {
            return Err(ConfigError::invalid(path, "must not be empty"));
        }
        if !seen.insert(item.as_str()) {
            return Err(ConfigError::invalid(path, format!("duplicate item `{item}`")));
        }
    }
    if !e.training_pass_pct.is_finite() || e.training_pass_pct <= 0.0 || e.training_pass_pct > 100.0 {
        return Err(ConfigError::invalid(
            "evidence.training_pass_pct",
            format!("{} is out of range (0, 100]", fmt_num(e.training_pass_pct)),
        ));
    }
    range("evidence.unconfirmed_value_cap", e.unconfirmed_value_cap, 0.0, 10.0)
}

fn red_flags(r: &RedFlagConfig) -> R {
    range("red_flags.low_engagement_pct", r.low_engagement_pct, 0.0, 100.0)?;
    range("red_flags.usage_declining_pct", r.usage_declining_pct, -100.0, 0.0)?;
    range("red_flags.usage_declining_periodic_pct", r.usage_declining_periodic_pct, -100.0, 0.0)
}

fn bands(path: &str, b: &Bands) -> R {
    range(&format!("{path}.green"), b.green, 0.0, 100.0)?;
    range(&format!("{path}.yellow"), b.yellow, 0.0, 100.0)?;
    if b.yellow > b.green {
        return Err(ConfigError::invalid(
            format!("{path}.yellow"),
            format!("{} is above green {}", fmt_num(b.yellow), fmt_num(b.green)),
        ));
    }
    Ok(())
}

fn health(h: &HealthConfig) -> R {
    weights("health.weights", &h.weights, Measure::NAMES, "measure")?;
    bands("health.bands", &h.bands)?;
    range("health.trend.full_at_pct", h.trend.full_at_pct, -100.0, 1000.0)?;
    range("health.trend.zero_at_pct", h.trend.zero_at_pct, -100.0, 1000.0)?;
    if h.trend.zero_at_pct >= h.trend.full_at_pct {
        return Err(ConfigError::invalid(
            "health.trend.zero_at_pct",
            format!("{} must be below full_at_pct {}", fmt_num(h.trend.zero_at_pct), fmt_num(h.trend.full_at_pct)),
        ));
    }
    range("health.reason_below", h.reason_below, 0.0, 100.0)
}

/// Longest staleness limit: ten years.
const MAX_STALE_DAYS: u32 = 3650;

fn stale_days(path: &str, days: u32) -> R {
    if !(1..=MAX_STALE_DAYS).contains(&days) {
        return Err(ConfigError::invalid(path, format!("{days} is out of range 1..={MAX_STALE_DAYS} days")));
    }
    Ok(())
}

fn quality(q: &QualityConfig) -> R {
    stale_days("quality.stale_after_days", q.stale_after_days)?;
    for (k, v) in &q.measures {
        let path = format!("quality.measures.{k}");
        match Measure::parse(k) {
            Some(m) if crate::quality::crm_fed(m) => stale_days(&path, *v)?,
            Some(_) => {
                return Err(ConfigError::invalid(
                    path,
                    format!(
                    "`{k}` is fed by usage and never stale from age (SPEC v3 §10); limits apply to adoption, sentiment"
                ),
                ))
            }
            None => {
                return Err(ConfigError::invalid(
                    path,
                    format!("unknown measure `{k}`, expected adoption or sentiment"),
                ))
            }
        }
    }
    let known = dimension_names();
    for (k, v) in &q.dimensions {
        let path = format!("quality.dimensions.{k}");
        if !known.contains(&k.as_str()) {
            return Err(ConfigError::invalid(
                path,
                format!("unknown dimension `{k}`, expected one of {}", known.join(", ")),
            ));
        }
        stale_days(&path, *v)?;
    }
    Ok(())
}

fn alerts(a: &AlertsConfig) -> R {
    let d = &a.usage_declining;
    for (key, open, resolve) in
        [("", d.open_at_pct, d.resolve_at_pct), ("periodic_", d.periodic_open_at_pct, d.periodic_resolve_at_pct)]
    {
        range(&format!("alerts.usage_declining.{key}open_at_pct"), open, -100.0, 0.0)?;
        range(&format!("alerts.usage_declining.{key}resolve_at_pct"), resolve, -100.0, 1000.0)?;
        if resolve < open {
            return Err(ConfigError::invalid(
                format!("alerts.usage_declining.{key}resolve_at_pct"),
                format!("{} must be >= {key}open_at_pct {} (hysteresis)", fmt_num(resolve), fmt_num(open)),
            ));
        }
    }
    let l = &a.low_engagement;
    range("alerts.low_engagement.open_at_pct", l.open_at_pct, 0.0, 100.0)?;
    range("alerts.low_engagement.resolve_at_pct", l.resolve_at_pct, 0.0, 100.0)?;
    if l.resolve_at_pct < l.open_at_pct {
        return Err(ConfigError::invalid(
            "alerts.low_engagement.resolve_at_pct",
            format!("{} must be >= open_at_pct {} (hysteresis)", fmt_num(l.resolve_at_pct), fmt_num(l.open_at_pct)),
        ));
    }
    range("alerts.health_dropped.resolve_margin", a.health_dropped.resolve_margin, 0.0, 100.0)
}

fn override_(path: &str, o: &Override) -> R {
    if o.segment.is_none() && o.profile.is_none() {
        return Err(ConfigError::invalid(path, "needs `segment` and/or `profile` to say which accounts it applies to"));
    }
    if let Some(w) = &o.health_weights {
        weights(&format!("{path}.health_weights"), w, Measure::NAMES, "measure")?;
    }
    if let Some(b) = &o.health_bands {
        bands(&format!("{path}.health_bands"), b)?;
    }
    if let Some(w) = &o.readiness_weights {
        weights(&format!("{path}.readiness_weights"), w, &dimension_names(), "dimension")?;
    }
    if let Some(t) = &o.usage_thresholds {
        thresholds(&format!("{path}.usage_thresholds"), t)?;
    }
    stickiness_target(&format!("{path}.stickiness_target"), o.stickiness_target)?;
    if let Some(x) = o.low_engagement_pct {
        range(&format!("{path}.low_engagement_pct"), x, 0.0, 100.0)?;
    }
    Ok(())
}
