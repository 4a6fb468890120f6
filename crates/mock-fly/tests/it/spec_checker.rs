//! The spec checker used by the OpenAPI test can fail: wrong types and invented fields are caught.

use crate::common::spec::{self, check, schema};
use serde_json::json;

#[test]
#[should_panic(expected = "does not match the spec")]
fn the_checker_rejects_a_wrong_type() {
    let Some(spec) = spec::load() else {
        panic!("does not match the spec (spec absent, nothing to check)")
    };
    check(&spec, schema("Machine"), &json!({ "id": 5 }), "bad machine");
}

#[test]
#[should_panic(expected = "is not in the spec's schema")]
fn the_checker_rejects_an_invented_field() {
    let Some(spec) = spec::load() else {
        panic!("is not in the spec's schema (spec absent, nothing to check)")
    };
    check(
        &spec,
        schema("App"),
        &json!({ "name": "a", "colour": "red" }),
        "bad app",
    );
}
