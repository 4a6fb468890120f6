#![doc = include_str!("../README.md")]

pub mod blocking;
pub mod cargo_bin;
pub mod db;
pub mod oci;
pub mod pg_catalog;
pub mod process;
pub mod registry;
pub mod wait;
