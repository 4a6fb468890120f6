//! Provisioning benchmark (placeholder main until the harness lands).
fn main() {}
