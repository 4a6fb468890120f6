//! Property tests of the domain rules: canonical ids, the image reference grammar, the deploy rule.

use proptest::prelude::*;
use tenant_domain::{ImageRef, RegistryTarget, TenantId, TenantState, naming};

fn tenant_id() -> impl Strategy<Value = TenantId> {
    any::<u128>().prop_map(|n| TenantId::from_uuid(uuid::Uuid::from_u128(n)))
}

/// Valid references built from the grammar's pieces.
fn valid_reference() -> impl Strategy<Value = String> {
    let component = "[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}";
    let path = prop::collection::vec(component, 1..4).prop_map(|c| c.join("/"));
    // Always with a host: without one, a first component containing `.` is read as a host (as in
    // distribution), which the generator would otherwise have to avoid.
    let host = (
        "[a-z][a-z0-9]{0,10}\\.[a-z]{2,5}",
        prop::option::of(1u16..65535),
    )
        .prop_map(Some);
    let tag = prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}");
    let digest = prop::option::of("[0-9a-f]{64}");
    (host, path, tag, digest).prop_map(|(host, path, tag, digest)| {
        let mut s = String::new();
        if let Some((h, port)) = host {
            s.push_str(&h);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            s.push('/');
        }
        s.push_str(&path);
        if let Some(t) = tag {
            s.push_str(&format!(":{t}"));
        }
        if let Some(d) = digest {
            s.push_str(&format!("@sha256:{d}"));
        }
        s
    })
}

proptest! {
    #[test]
    fn tenant_id_display_parse_round_trip(id in tenant_id()) {
        let shown = id.to_string();
        prop_assert_eq!(TenantId::parse(&shown).unwrap(), id);
        prop_assert_eq!(shown.to_lowercase(), shown.clone());
        // Exactly one spelling: the uppercase form is refused.
        if shown.chars().any(|c| c.is_ascii_alphabetic()) {
            prop_assert!(TenantId::parse(&shown.to_uppercase()).is_err());
        }
    }

    #[test]
    fn image_ref_round_trips(reference in valid_reference()) {
        let parsed = ImageRef::parse(&reference).unwrap();
        prop_assert_eq!(parsed.to_string(), reference.clone());
        prop_assert_eq!(ImageRef::parse(&parsed.to_string()).unwrap(), parsed);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = ImageRef::parse(&s);
        let _ = TenantId::parse(&s);
    }

    #[test]
    fn parser_never_panics_on_reference_like_noise(s in "[a-zA-Z0-9:/@._ -]{0,80}") {
        let _ = ImageRef::parse(&s);
    }

    #[test]
    fn deploy_rule_accepts_only_the_tenants_own_image(
        id in tenant_id(),
        other in tenant_id(),
        candidate in "[a-zA-Z0-9:/@._-]{0,120}",
    ) {
        let target = RegistryTarget::new("registry.example.com", "tenant-images");
        let own = target.expected_image(&id);
        // Arbitrary strings are accepted only when they are the tenant's image (plus optional digest).
        if let Ok(ok) = target.validate_deploy_image(&id, &candidate) {
            let pinned_prefix = format!("{own}@sha256:");
            prop_assert!(candidate == own || candidate.starts_with(&pinned_prefix));
            prop_assert_eq!(ok.image, own.clone());
        }
        // Another tenant's image is never accepted.
        prop_assert!(target.validate_deploy_image(&id, &target.expected_image(&other)).is_ok() == (id == other));
        // Mutations of the tenant's own image are refused.
        for mutated in [format!("{own}x"), format!("{own} "), own.to_uppercase(), own.replacen('/', "/x/", 1), own.replace(':', "@")] {
            prop_assert!(target.validate_deploy_image(&id, &mutated).is_err(), "{}", mutated);
        }
        prop_assert!(target.validate_deploy_image(&id, &own).is_ok());
    }

    #[test]
    fn derived_names_are_distinct_per_tenant(a in tenant_id(), b in tenant_id()) {
        prop_assume!(a.short_hex() != b.short_hex());
        prop_assert_ne!(naming::fly_app_name(&a), naming::fly_app_name(&b));
        prop_assert_ne!(naming::tenant_database_name(&a), naming::tenant_database_name(&b));
        prop_assert_ne!(naming::image_tag(&a), naming::image_tag(&b));
    }

    #[test]
    fn transitions_never_leave_deleted(path in prop::collection::vec(0usize..8, 0..20)) {
        let mut state = TenantState::Pending;
        for i in path {
            let to = TenantState::ALL[i];
            match state.transition(to) {
                Ok(next) => { prop_assert!(state != TenantState::Deleted); state = next; }
                Err(e) => prop_assert_eq!(e.from, state),
            }
        }
    }
}
