//! Values for expressions at run time.

use serde_json::Value as Json;

use crate::model::expr::{Scope, Value};

/// A scope over a JSON document: `steps.build.status` looks up `{"steps": {"build": {"status": …}}}`.
pub struct JsonScope(pub Json);

impl Scope for JsonScope {
    fn resolve(&self, path: &[&str]) -> Option<Value> {
        let mut node = &self.0;
        for segment in path {
            node = node.get(*segment)?;
        }
        Some(from_json(node))
    }
}

pub fn from_json(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(flag) => Value::Bool(*flag),
        Json::Number(number) => Value::Number(number.as_f64().unwrap_or(f64::NAN)),
        Json::String(text) => Value::String(text.clone()),
        Json::Array(items) => Value::List(items.iter().map(from_json).collect()),
        Json::Object(_) => Value::String(value.to_string()),
    }
}
