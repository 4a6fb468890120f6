//! Diesel table definitions of the `management` schema, generated from the migrations by diesel's
//! `print-schema` (`scripts/check-schema.sh`, run by `just test`, fails when they drift apart;
//! `FIX=1 scripts/check-schema.sh` regenerates `schema/generated.rs`).

#[rustfmt::skip]
mod generated;

pub use generated::management::*;
