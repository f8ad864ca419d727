//! The permissive first pass of parsing: every known field is captured as whatever
//! JSON it holds ([`Any`]), so the second pass can say precisely *which* field is
//! missing or of the wrong type. A strict serde struct would fail at the first
//! problem with a message we could not classify, and parsing into
//! `serde_json::Value` would allocate a map per event; this borrows strings from the
//! input where JSON escapes allow, which keeps the hot usage path cheap.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// One JSON value with only the information validation needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Any<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Array,
    Object,
}

impl Any<'_> {
    /// JSON type name for `wrong_type` details.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Any::Str(_) => "string",
            Any::U64(_) | Any::I64(_) | Any::F64(_) => "number",
            Any::Bool(_) => "boolean",
            Any::Array => "array",
            Any::Object => "object",
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Any<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyVisitor(std::marker::PhantomData))
    }
}

struct AnyVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for AnyVisitor<'a> {
    type Value = Any<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Any::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Any::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Any::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Any::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Any::I64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Any::F64(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Any::Bool(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Any::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Any::Object)
    }
}

/// Segment `context`: only `groupId` matters; anything that is not an object is a
/// `wrong_type` reported by the caller.
#[derive(Debug, Default)]
pub(crate) struct Context<'a> {
    pub(crate) is_object: bool,
    pub(crate) group_id: Option<Any<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Context<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Context<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Context { is_object: true, group_id: None };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "groupId" {
                        out.group_id = map.next_value::<Option<Any<'a>>>()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(out)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Context::default())
            }
            fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
                Ok(Context::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Context::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Context::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Context::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Context::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Context::default())
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Every field any event type (native or Segment) can carry. `null` deserializes
/// to `None`, i.e. "absent" (see the module doc of `event`).
///
/// The visitor is generated by `wire_struct!` rather than derived: the derive keeps
/// a temporary per field and moves the (1.5 KB) struct several times, and this is
/// the hottest code of ingest and replay.
macro_rules! wire_struct {
    ($($field:ident: $key:literal,)*) => {
        #[derive(Debug, Default)]
        pub(crate) struct Wire<'a> {
            $(pub(crate) $field: Option<Any<'a>>,)*
            pub(crate) properties: Option<serde_json::Value>,
            pub(crate) context: Option<Context<'a>>,
        }

        /// Deserializes *into* an existing [`Wire`], so the large struct is never
        /// moved (serde would return it by value through several frames).
        pub(crate) struct WireSeed<'w, 'a>(pub(crate) &'w mut Wire<'a>);

        impl<'de: 'a, 'a> de::DeserializeSeed<'de> for WireSeed<'_, 'a> {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_map(self)
            }
        }

        impl<'de: 'a, 'a> Visitor<'de> for WireSeed<'_, 'a> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                let w = self.0;
                let mut seen = Seen::default();
                while let Some(key) = map.next_key::<Any<'a>>()? {
                    let Any::Str(key) = key else {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    };
                    match key.as_ref() {
                        $($key => {
                            seen.once::<A::Error>($key)?;
                            w.$field = map.next_value()?;
                        })*
                        "properties" => {
                            seen.once::<A::Error>("properties")?;
                            w.properties = map.next_value()?;
                        }
                        "context" => {
                            seen.once::<A::Error>("context")?;
                            w.context = map.next_value()?;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(())
            }
        }
    };
}

/// Known keys already seen in this object: a repeated key is an error (which copy
/// the producer meant is ambiguous).
/// A fixed array, not a `Vec`: no allocation per event; each known key is stored
/// at most once, and there are fewer than 64.
struct Seen {
    keys: [&'static str; 64],
    n: usize,
}

impl Default for Seen {
    fn default() -> Self {
        Seen { keys: [""; 64], n: 0 }
    }
}

impl Seen {
    fn once<E: de::Error>(&mut self, key: &'static str) -> Result<(), E> {
        if self.keys[..self.n].contains(&key) {
            return Err(E::custom(format_args!("duplicate field `{key}`")));
        }
        if let Some(slot) = self.keys.get_mut(self.n) {
            *slot = key;
            self.n += 1;
        }
        Ok(())
    }
}

wire_struct! {
    ty: "type",
    event_id: "event_id",
    account_id: "account_id",
    timestamp: "timestamp",
    user_id: "user_id",
    event: "event",
    feature: "feature",
    message_id: "messageId",
    seg_user_id: "userId",
    anonymous_id: "anonymousId",
    name: "name",
    licensed_seats: "licensed_seats",
    usage_profile: "usage_profile",
    segment: "segment",
    arr: "arr",
    csm: "csm",
    lifecycle_stage: "lifecycle_stage",
    onboarding_started_on: "onboarding_started_on",
    target_graduation_on: "target_graduation_on",
    renewal_on: "renewal_on",
    dimension: "dimension",
    score: "score",
    author: "author",
    note: "note",
    expires_on: "expires_on",
    item: "item",
    status: "status",
    module: "module",
    score_pct: "score_pct",
    kpi: "kpi",
    baseline: "baseline",
    target: "target",
    value: "value",
    confirmed: "confirmed",
    unit: "unit",
    role: "role",
    person: "person",
    sentiment: "sentiment",
    ticket_id: "ticket_id",
    severity: "severity",
    outcome: "outcome",
    arr_before: "arr_before",
    arr_after: "arr_after",
    reason: "reason",
}
