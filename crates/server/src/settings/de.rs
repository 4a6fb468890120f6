//! Deserializers for [`super::RawSettings`] fields that carry a unit or a range: a duration read in the
//! unit its variable names (`_MS`, `_SECS`), and counts, each checked against its accepted range while it
//! is read. A value out of range is an error naming the variable (the layering adds the key), never
//! silently clamped.
//!
//! Enums are read by name with their derived `Deserialize` ([`by_name`]), so that a wrong name is
//! answered with the accepted ones.
//!
//! The bounds are const parameters so that each field states its range where it is declared:
//! `#[serde(deserialize_with = "de::millis::<_, 100, 25_000>")]`.

use std::fmt::Display;
use std::time::Duration;

use serde::de::value::{Error as ValueError, StrDeserializer};
use serde::de::{Deserialize, DeserializeOwned, Deserializer, Error, IntoDeserializer};

/// No upper bound.
pub const UNBOUNDED: u64 = u64::MAX;

/// A value in `MIN..=MAX`, or an error saying which range is accepted (the value is a number of the
/// variable's own unit, never a secret).
fn bounded<E: Error, T: PartialOrd + Display + Copy>(
    value: T,
    min: T,
    max: T,
    unbounded: bool,
) -> Result<T, E> {
    if value >= min && value <= max {
        return Ok(value);
    }
    let accepted = if unbounded {
        format!("at least {min}")
    } else {
        format!("{min} to {max}")
    };
    // Worded without serde's ", expected" so the layering keeps the value in the message.
    Err(E::custom(format!("{value} is out of range: {accepted}")))
}

/// Milliseconds in `MIN..=MAX`, as a [`Duration`].
pub fn millis<'de, D, const MIN: u64, const MAX: u64>(d: D) -> Result<Duration, D::Error>
where
    D: Deserializer<'de>,
{
    let ms = bounded(u64::deserialize(d)?, MIN, MAX, MAX == UNBOUNDED)?;
    Ok(Duration::from_millis(ms))
}

/// Seconds in `MIN..=MAX`, as a [`Duration`].
pub fn secs<'de, D, const MIN: u64, const MAX: u64>(d: D) -> Result<Duration, D::Error>
where
    D: Deserializer<'de>,
{
    let s = bounded(u64::deserialize(d)?, MIN, MAX, MAX == UNBOUNDED)?;
    Ok(Duration::from_secs(s))
}

/// A count of at least `MIN` (pool connections, workers).
pub fn at_least<'de, D, const MIN: usize>(d: D) -> Result<usize, D::Error>
where
    D: Deserializer<'de>,
{
    bounded(usize::deserialize(d)?, MIN, usize::MAX, true)
}

/// An enum read from its name by its derived `Deserialize` (the `config` crate's own enum support would
/// answer a wrong name without the accepted ones, and echo it).
pub fn by_name<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let name = String::deserialize(d)?;
    T::deserialize(name_deserializer(&name)).map_err(D::Error::custom)
}

/// `name` as the input of a derived (or `remote`) enum `Deserialize`.
pub fn name_deserializer(name: &str) -> StrDeserializer<'_, ValueError> {
    name.into_deserializer()
}
