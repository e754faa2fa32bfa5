//! A JSON object read as the list of its members, duplicates kept, so the
//! verifier can apply RFC 7515 §4 / RFC 7519 §4's rule on duplicate names
//! itself instead of inheriting a parser's silent choice.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// The members of one JSON object that the verifier reads, in order.
pub struct Entries(Vec<(String, Value)>);

impl Entries {
    /// The value of `name`; with duplicates, the lexically last one.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Rejects the object if any of `names` occurs twice.
    pub fn unique(&self, names: &[&str]) -> Result<(), &'static str> {
        for name in names {
            if self.0.iter().filter(|(k, _)| k == name).count() > 1 {
                return Err("duplicate member");
            }
        }
        Ok(())
    }
}

/// How members the verifier does not interpret are read. RFC 8259 §9 lets
/// a parser limit numbers (range, precision) and strings; whether such a
/// limit applies to a member nobody reads is a free choice. The choices
/// here: a JOSE header is read whole (every parameter is a value some JOSE
/// processor may act on), a claims set only as far as it is used (RFC 7519
/// §4: claims not understood are ignored).
#[derive(Clone, Copy)]
pub enum Others {
    Read,
    Skip,
}

/// Parses `bytes` as one JSON object (RFC 8259, UTF-8, nothing after it
/// but whitespace), keeping the members named in `names`. RFC 7515 §4 and
/// RFC 7519 §7.2 both require an object.
pub fn object(bytes: &[u8], names: &[&str], others: Others) -> Result<Entries, &'static str> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let entries = Members { names, others }
        .deserialize(&mut de)
        .map_err(|_| "not a JSON object")?;
    de.end().map_err(|_| "trailing characters")?;
    Ok(entries)
}

struct Members<'n> {
    names: &'n [&'n str],
    others: Others,
}

impl<'de> DeserializeSeed<'de> for Members<'_> {
    type Value = Entries;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Entries, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Members<'_> {
    type Value = Entries;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.names.contains(&key.as_str()) {
                members.push((key, map.next_value::<Value>()?));
            } else {
                match self.others {
                    Others::Read => drop(map.next_value::<Value>()?),
                    Others::Skip => drop(map.next_value::<IgnoredAny>()?),
                }
            }
        }
        Ok(Entries(members))
    }
}
