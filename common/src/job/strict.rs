//! Duplicate keys in a JSON body: serde keeps the last of two equal keys without a
//! word, so `{"prompt": "a", "prompt": "b"}` or a repeated `metadata` key would
//! silently change what is generated and paid for. [`check_duplicate_keys`] walks the
//! body once and names the first key that appears twice in one object.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::ValidationError;

/// Fails with the path of the first key that appears twice in one object (e.g.
/// `metadata.sku: appears twice`). A body that is not JSON passes: parsing it reports
/// that with its own message.
pub fn check_duplicate_keys(body: &[u8]) -> Result<(), ValidationError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    match (Walk {
        path: String::new(),
    })
    .deserialize(&mut de)
    {
        Ok(()) => Ok(()),
        Err(e) => {
            let msg = e.to_string();
            match msg.split_once(DUPLICATE) {
                Some((_, rest)) => {
                    let path = rest.split(" at line").next().unwrap_or(rest);
                    Err(ValidationError::new(path, "appears twice in one object"))
                }
                None => Ok(()),
            }
        }
    }
}

const DUPLICATE: &str = "duplicate key: ";

/// Visits any JSON value, remembering where it is.
struct Walk {
    path: String,
}

impl Walk {
    fn child(&self, key: &str) -> Walk {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        Walk { path }
    }
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while seq.next_element_seed(self.child(&i.to_string()))?.is_some() {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let child = self.child(&key);
            if !seen.insert(key.into_owned()) {
                return Err(de::Error::custom(format!("{DUPLICATE}{}", child.path)));
            }
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_repeated_key_with_its_path() {
        let cases: [(&str, Option<&str>); 6] = [
            (r#"{"a":1,"b":2}"#, None),
            (r#"{"a":1,"a":2}"#, Some("a")),
            (r#"{"m":{"sku":"x","sku":"y"}}"#, Some("m.sku")),
            (r#"{"r":[{"k":1},{"k":1,"k":2}]}"#, Some("r.1.k")),
            (r#"{"a":"\u0041","b":{"c":[1,2,{"d":null}]}}"#, None),
            ("not json", None),
        ];
        for (body, want) in cases {
            let got = check_duplicate_keys(body.as_bytes()).err().map(|e| e.field);
            assert_eq!(got.as_deref(), want, "{body}");
        }
    }

    #[test]
    fn escaped_keys_compare_by_their_value() {
        let e = check_duplicate_keys(br#"{"prompt":"a","pro\u006dpt":"b"}"#).unwrap_err();
        assert_eq!(e.to_string(), "prompt: appears twice in one object");
    }
}
