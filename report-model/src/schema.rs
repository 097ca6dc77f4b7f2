//! The schema name, defined once: every report says `"schema": "memscope-report/1"`, and
//! a document that says anything else is not read.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The schema name of the report document.
pub const SCHEMA: &str = "memscope-report/1";

/// The `schema` field: always [`SCHEMA`], so it carries no data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schema;

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(SCHEMA)
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Schema;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "the schema name {SCHEMA:?}")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Schema, E> {
                if name == SCHEMA {
                    Ok(Schema)
                } else {
                    Err(E::custom(format!(
                        "report schema {name:?} is not {SCHEMA:?}"
                    )))
                }
            }
        }
        deserializer.deserialize_str(Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_only_its_own_name() {
        assert_eq!(
            serde_json::to_string(&Schema).unwrap(),
            "\"memscope-report/1\""
        );
        let read: Schema = serde_json::from_str("\"memscope-report/1\"").unwrap();
        assert_eq!(read, Schema);
        let err = serde_json::from_str::<Schema>("\"memscope-report/2\"").unwrap_err();
        assert!(err.to_string().contains("is not"), "{err}");
    }
}
