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
                let mut out = Context {
                    is_object: true,
                    group_id: None,
                };
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
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Wire<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) ty: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) event_id: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) account_id: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) timestamp: Option<Any<'a>>,
    // usage
    #[serde(borrow)]
    pub(crate) user_id: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) event: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) feature: Option<Any<'a>>,
    pub(crate) properties: Option<serde_json::Value>,
    // segment track
    #[serde(rename = "messageId", borrow)]
    pub(crate) message_id: Option<Any<'a>>,
    #[serde(rename = "userId", borrow)]
    pub(crate) seg_user_id: Option<Any<'a>>,
    #[serde(rename = "anonymousId", borrow)]
    pub(crate) anonymous_id: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) context: Option<Context<'a>>,
    // account
    #[serde(borrow)]
    pub(crate) name: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) licensed_seats: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) usage_profile: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) segment: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) arr: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) csm: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) lifecycle_stage: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) onboarding_started_on: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) target_graduation_on: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) renewal_on: Option<Any<'a>>,
    // assessment
    #[serde(borrow)]
    pub(crate) dimension: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) score: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) author: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) note: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) expires_on: Option<Any<'a>>,
    // evidence
    #[serde(borrow)]
    pub(crate) item: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) status: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) module: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) score_pct: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) kpi: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) baseline: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) target: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) value: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) confirmed: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) unit: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) role: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) person: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) sentiment: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) ticket_id: Option<Any<'a>>,
    #[serde(borrow)]
    pub(crate) severity: Option<Any<'a>>,
}
