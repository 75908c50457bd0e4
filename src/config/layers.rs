//! The file and the environment as one tree of values for serde: each key's value from its
//! environment variable when that is set, else from the file. A file value keeps its TOML type
//! (`bot_lead_detection = "yes"` is a string, refused); an environment value is text, parsed as
//! the setting asks (`BOT_LEAD_DETECTION=yes` is true). Errors carry the key's path.

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

/// The keys a struct declares.
pub type KeysOf = fn() -> &'static [&'static str];

/// The tables of the file, each with the struct that declares its keys.
pub const TABLES: &[(&str, KeysOf)] = &[("redirect", field_names::<super::RedirectConfig>)];

/// The environment variable of a file key: the key in upper case, `.` as `_`
/// (`redirect.allowed_hosts` is `REDIRECT_ALLOWED_HOSTS`); `bind` is `LEADGATE_BIND`, the
/// contract's name (a bare `BIND` would be read from anyone's environment).
pub fn env_name(key: &str) -> String {
    match key {
        "bind" => "LEADGATE_BIND".into(),
        key => key.replace('.', "_").to_ascii_uppercase(),
    }
}

/// Every key, as the file names it (`redirect.allowed_hosts`), in declaration order.
pub fn all_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for key in field_names::<super::Config>() {
        match TABLES.iter().find(|(table, _)| table == key) {
            Some((table, fields)) => keys.extend(fields().iter().map(|k| format!("{table}.{k}"))),
            None => keys.push(key.to_string()),
        }
    }
    keys
}

/// What went wrong with one value, and where (`["redirect", "allowed_hosts"]`).
#[derive(Debug)]
pub struct FieldError {
    pub path: Vec<String>,
    pub problem: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)
    }
}

impl std::error::Error for FieldError {}

impl de::Error for FieldError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        FieldError {
            path: Vec::new(),
            problem: plain(&message.to_string()),
        }
    }
}

/// serde's `invalid type: string "soon", expected a number` as `expected a number, got string`.
fn plain(message: &str) -> String {
    let Some(rest) = message.strip_prefix("invalid type: ") else {
        return message.to_string();
    };
    let Some((found, expected)) = rest.rsplit_once(", expected ") else {
        return message.to_string();
    };
    let kind = found.split([' ', '`', '"']).next().unwrap_or(found);
    let kind = match kind {
        "floating" => "float",
        "sequence" => "array",
        "map" => "table",
        other => other,
    };
    format!("expected {expected}, got {kind}")
}

/// One value of the layered configuration.
pub enum Node {
    Table(BTreeMap<String, Node>),
    File(toml::Value),
    Env(String),
}

impl Node {
    /// The file's values, the environment's over them, for every key the configuration declares.
    pub fn layered(file: &toml::Table, env: &BTreeMap<String, String>) -> Node {
        let mut root: BTreeMap<String, Node> = file
            .iter()
            .map(|(key, value)| (key.clone(), Node::from_file(value)))
            .collect();
        for key in all_keys() {
            let Some(value) = env.get(&env_name(&key)) else {
                continue;
            };
            let env_value = Node::Env(value.clone());
            // Keys are `key` or `table.key`: the file has no deeper tables.
            let Some((table, leaf)) = key.split_once('.') else {
                root.insert(key, env_value);
                continue;
            };
            let node = root
                .entry(table.to_string())
                .or_insert_with(|| Node::Table(BTreeMap::new()));
            if let Node::Table(entries) = node {
                entries.insert(leaf.to_string(), env_value);
            }
        }
        Node::Table(root)
    }

    fn from_file(value: &toml::Value) -> Node {
        match value {
            toml::Value::Table(table) => Node::Table(
                table
                    .iter()
                    .map(|(key, value)| (key.clone(), Node::from_file(value)))
                    .collect(),
            ),
            other => Node::File(other.clone()),
        }
    }
}

fn from_toml(error: toml::de::Error) -> FieldError {
    de::Error::custom(error.message())
}

/// Each `deserialize_*` that takes only a visitor, sent to the node's own kind of value.
macro_rules! by_kind {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
            match self {
                Node::File(value) => value.$method(visitor).map_err(from_toml),
                Node::Env(text) => EnvValue(text).$method(visitor),
                Node::Table(_) => self.deserialize_any(visitor),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for Node {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self {
            Node::Table(table) => visitor.visit_map(Entries {
                entries: table.into_iter(),
                value: None,
            }),
            Node::File(value) => value.deserialize_any(visitor).map_err(from_toml),
            Node::Env(text) => visitor.visit_string(text),
        }
    }

    by_kind! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
        deserialize_f64 deserialize_char deserialize_str deserialize_string deserialize_bytes
        deserialize_byte_buf deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    serde::forward_to_deserialize_any! {
        unit_struct newtype_struct tuple tuple_struct struct enum
    }
}

impl<'de> IntoDeserializer<'de, FieldError> for Node {
    type Deserializer = Node;
    fn into_deserializer(self) -> Node {
        self
    }
}

/// A table's entries; an error in a value is given that value's key.
struct Entries {
    entries: std::collections::btree_map::IntoIter<String, Node>,
    value: Option<(String, Node)>,
}

impl<'de> MapAccess<'de> for Entries {
    type Error = FieldError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FieldError> {
        let Some((key, node)) = self.entries.next() else {
            return Ok(None);
        };
        let name = seed
            .deserialize(key.clone().into_deserializer())
            .map_err(|e: FieldError| at(&key, e))?;
        self.value = Some((key, node));
        Ok(Some(name))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, FieldError> {
        let (key, node) = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value without its key"))?;
        seed.deserialize(node).map_err(|e| at(&key, e))
    }
}

fn at(key: &str, mut error: FieldError) -> FieldError {
    error.path.insert(0, key.to_string());
    error
}

/// An environment variable's text, read as the setting asks: a number, a flag, a
/// comma-separated list, or text.
struct EnvValue(String);

impl EnvValue {
    fn number(&self) -> Result<f64, FieldError> {
        self.0
            .trim()
            .parse::<f64>()
            .map_err(|_| de::Error::custom(format!("expected a number, got {:?}", self.0)))
    }
}

impl<'de> Deserializer<'de> for EnvValue {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_string(self.0)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.0.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => visitor.visit_bool(true),
            "false" | "0" | "no" | "off" => visitor.visit_bool(false),
            _ => Err(de::Error::custom(format!(
                "expected true or false, got {:?}",
                self.0
            ))),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_f64(self.number()?)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_str(&self.0)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 char str string bytes byte_buf option unit
        unit_struct newtype_struct tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// The field names of a struct as serde declares them, for every key of the file to be known
/// from the struct alone.
pub fn field_names<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    let mut names = None;
    let _ = T::deserialize(FieldNames(&mut names));
    names.unwrap_or_default()
}

struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, FieldError> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, FieldError> {
        *self.0 = Some(fields);
        Err(de::Error::custom("names taken"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
