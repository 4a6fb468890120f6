//! Identifier generators shaped like Fly's (machine ids, volume ids, instance ids, lease nonces).

use rand::Rng;

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// 14 lowercase hex digits, like `1857156b526dd8`.
pub(crate) fn machine_id() -> String {
    random_from(b"0123456789abcdef", 14)
}

/// `vol_` and 16 lowercase alphanumerics.
pub(crate) fn volume_id() -> String {
    format!(
        "vol_{}",
        random_from(b"0123456789abcdefghijklmnopqrstuvwxyz", 16)
    )
}

/// 26 Crockford base32 characters, the shape of a ULID (Fly's instance ids and versions).
pub(crate) fn instance_id() -> String {
    random_from(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", 26)
}

/// 12 lowercase hex digits, like a lease nonce.
pub(crate) fn nonce() -> String {
    random_from(b"0123456789abcdef", 12)
}

pub(crate) fn app_id() -> String {
    random_from(b"0123456789abcdefghijklmnopqrstuvwxyz", 20)
}

/// A private 6PN address.
pub(crate) fn private_ip() -> String {
    let mut rng = rand::thread_rng();
    format!(
        "fdaa:0:1:a7b:{:x}:{:x}:{:x}:2",
        rng.gen_range(1..0xffff),
        rng.gen_range(1..0xffff),
        rng.gen_range(1..0xffff)
    )
}

/// A random machine name in Fly's adjective-noun-number style.
pub(crate) fn machine_name() -> String {
    const A: &[&str] = &["aged", "quirky", "summer", "lingering", "bold", "calm"];
    const N: &[&str] = &["thunder", "wind", "sun", "moon", "river", "forest"];
    let mut rng = rand::thread_rng();
    format!(
        "{}-{}-{}",
        A[rng.gen_range(0..A.len())],
        N[rng.gen_range(0..N.len())],
        rng.gen_range(1000..9999)
    )
}
