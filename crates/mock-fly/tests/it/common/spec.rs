//! Validation of mock responses against the Machines OpenAPI spec in
//! `../shared/reference/fly/machines-openapi3.json`, with the README's documented corrections applied.

use serde_json::{Value, json};

fn spec_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/fly/machines-openapi3.json")
}

/// The spec with its corrections, or `None` (with a printed note) on a plain clone without it.
pub fn load() -> Option<Value> {
    let path = spec_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!(
            "NOTE: {} not found; OpenAPI schema checks skipped",
            path.display()
        );
        return None;
    };
    let mut spec: Value = serde_json::from_str(&text).expect("spec is JSON");
    // Correction (README): error `status` values seen include name_taken.
    let codes = &mut spec["components"]["schemas"]["main.statusCode"]["enum"];
    codes
        .as_array_mut()
        .expect("statusCode enum")
        .push(json!("name_taken"));
    Some(spec)
}

/// Validate `instance` against `schema` (which may `$ref` into `#/components/schemas`), and check that
/// every top-level key of an object is a property the schema names (no invented fields).
pub fn check(spec: &Value, schema: Value, instance: &Value, what: &str) {
    let mut root = schema.clone();
    root["components"] = spec["components"].clone();
    let validator =
        jsonschema::draft7::new(&root).unwrap_or_else(|e| panic!("schema for {what}: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the spec: {errors:#?}\n{instance:#}"
    );
    let target = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &spec["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => &schema,
    };
    if let (Some(props), Some(obj)) = (target["properties"].as_object(), instance.as_object()) {
        for key in obj.keys() {
            assert!(
                props.contains_key(key),
                "{what}: field {key:?} is not in the spec's schema"
            );
        }
    }
}

pub fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The response schema the spec gives for `method path` and `status`.
pub fn response_schema(spec: &Value, path: &str, method: &str, status: u16) -> Value {
    spec["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]["schema"].clone()
}
