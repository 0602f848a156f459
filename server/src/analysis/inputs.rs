//! Compiled validators for plugins' `inputs` schemas, cached by the schema's text so that a stage's
//! `with:` is checked without compiling the plugin's schema again on every keystroke.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use crate::syntax::Node;

use super::schema::{TreeJson, TreeValidator};

const CACHE_LIMIT: usize = 256;

static CACHE: LazyLock<Mutex<HashMap<String, Option<Arc<TreeValidator>>>>> = LazyLock::new(Default::default);

/// The validator of a plugin's `inputs` schema; `None` when the schema itself is invalid (reported
/// on `weft.yaml` by [`inputs_schema_error`]).
pub fn inputs_validator(inputs: &Node) -> Option<Arc<TreeValidator>> {
    let json = inputs.to_json();
    let key = json.to_string();
    let mut cache = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(found) = cache.get(&key) {
        return found.clone();
    }
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    // The same options as `jsonschema::validator_for`, reading the tree in place.
    let compiled = jsonschema::options_for::<TreeJson>().build(&json).ok().map(Arc::new);
    cache.insert(key, compiled.clone());
    compiled
}

/// Why a plugin's `inputs` is not a usable JSON Schema, if it is not.
pub fn inputs_schema_error(inputs: &Node) -> Option<String> {
    jsonschema::validator_for(&inputs.to_json()).err().map(|error| error.to_string())
}
