//! Verification with public keys: RS256 and ES256 PEM keys, a JWKS document with `kid`, and refusal of
//! algorithm confusion (an RS256 public key used as an HS256 secret).

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use mgmt_http::auth::{AuthError, Claims, JwtSettings, JwtVerifier};
use secrecy::SecretString;

const ES_PRIVATE: &str = include_str!("fixtures/es256_private.pem");
const ES_PUBLIC: &str = include_str!("fixtures/es256_public.pem");
const RS_PRIVATE: &str = include_str!("fixtures/rs256_private.pem");
const RS_PUBLIC: &str = include_str!("fixtures/rs256_public.pem");
const JWKS: &str = include_str!("fixtures/jwks.json");

fn claims(aud: Option<&str>) -> Claims {
    Claims {
        sub: "user-pk".into(),
        email: Some("pk@example.com".into()),
        name: None,
        exp: chrono::Utc::now().timestamp() + 300,
        iat: None,
        nbf: None,
        iss: Some("https://idp.test".into()),
        aud: aud.map(Into::into),
        jti: None,
        username: None,
        auth_time: None,
    }
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, c: &Claims) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(Into::into);
    encode(&header, c, key).unwrap()
}

fn pem_verifier(audience: Option<&str>) -> JwtVerifier {
    JwtVerifier::new(JwtSettings {
        // Both keys in one setting, as JWT_PUBLIC_KEY_PEM may hold several.
        public_keys_pem: vec![format!("{RS_PUBLIC}{ES_PUBLIC}")],
        issuer: Some("https://idp.test".into()),
        audience: audience.map(Into::into),
        leeway_secs: 5,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn rs256_and_es256_tokens_verify_with_pem_keys() {
    let rs = EncodingKey::from_rsa_pem(RS_PRIVATE.as_bytes()).unwrap();
    let es = EncodingKey::from_ec_pem(ES_PRIVATE.as_bytes()).unwrap();
    let v = pem_verifier(Some("management-api"));
    let c = claims(Some("management-api"));
    assert_eq!(
        v.verify(&sign(Algorithm::RS256, None, &rs, &c))
            .unwrap()
            .sub,
        "user-pk"
    );
    assert_eq!(
        v.verify(&sign(Algorithm::ES256, None, &es, &c))
            .unwrap()
            .sub,
        "user-pk"
    );
    // Audience is enforced when configured.
    let wrong_aud = claims(Some("another-api"));
    assert_eq!(
        v.verify(&sign(Algorithm::RS256, None, &rs, &wrong_aud))
            .unwrap_err(),
        AuthError::WrongIssuerOrAudience
    );
    let no_aud = claims(None);
    assert!(
        v.verify(&sign(Algorithm::ES256, None, &es, &no_aud))
            .is_err()
    );
}

#[test]
fn a_public_key_is_never_accepted_as_an_hmac_secret() {
    let v = pem_verifier(Some("management-api"));
    let forged = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(RS_PUBLIC.as_bytes()),
        &claims(None),
    );
    assert_eq!(
        v.verify(&forged).unwrap_err(),
        AuthError::UnsupportedAlgorithm
    );
}

#[test]
fn jwks_keys_are_matched_by_kid() {
    let v = JwtVerifier::new(JwtSettings {
        jwks_json: Some(JWKS.into()),
        issuer: Some("https://idp.test".into()),
        audience: Some("management-api".into()),
        leeway_secs: 5,
        ..Default::default()
    })
    .unwrap();
    let rs = EncodingKey::from_rsa_pem(RS_PRIVATE.as_bytes()).unwrap();
    assert_eq!(
        v.verify(&sign(
            Algorithm::RS256,
            Some("test-rsa-1"),
            &rs,
            &claims(Some("management-api"))
        ))
        .unwrap()
        .sub,
        "user-pk"
    );
    assert!(
        v.verify(&sign(
            Algorithm::RS256,
            Some("unknown-kid"),
            &rs,
            &claims(Some("management-api"))
        ))
        .is_err()
    );
    // An HS256 secret configured alongside does not weaken the RS256 keys.
    let both = JwtVerifier::new(JwtSettings {
        hs256_secret: Some(SecretString::from(
            "0123456789abcdef0123456789abcdef".to_owned(),
        )),
        jwks_json: Some(JWKS.into()),
        issuer: Some("https://idp.test".into()),
        audience: Some("management-api".into()),
        ..Default::default()
    })
    .unwrap();
    let es = EncodingKey::from_ec_pem(ES_PRIVATE.as_bytes()).unwrap();
    assert_eq!(
        both.verify(&sign(Algorithm::ES256, None, &es, &claims(None)))
            .unwrap_err(),
        AuthError::UnsupportedAlgorithm
    );
}

#[test]
fn external_public_keys_need_an_issuer_and_an_audience() {
    for (issuer, audience) in [
        (None, Some("management-api")),
        (Some("https://idp.test"), None),
    ] {
        let settings = JwtSettings {
            jwks_json: Some(JWKS.into()),
            issuer: issuer.map(Into::into),
            audience: audience.map(Into::into),
            ..Default::default()
        };
        assert!(matches!(
            JwtVerifier::new(settings),
            Err(mgmt_http::auth::KeyError::ExternalWithoutIssuerOrAudience)
        ));
    }
}

#[test]
fn an_array_audience_is_accepted_when_it_holds_ours() {
    let rs = EncodingKey::from_rsa_pem(RS_PRIVATE.as_bytes()).unwrap();
    let v = pem_verifier(Some("management-api"));
    let mut c = claims(None);
    c.aud = Some(mgmt_http::auth::Audience::Many(vec![
        "other".into(),
        "management-api".into(),
    ]));
    assert_eq!(
        v.verify(&sign(Algorithm::RS256, None, &rs, &c))
            .unwrap()
            .sub,
        "user-pk"
    );
    c.aud = Some(mgmt_http::auth::Audience::Many(vec!["other".into()]));
    assert_eq!(
        v.verify(&sign(Algorithm::RS256, None, &rs, &c))
            .unwrap_err(),
        AuthError::WrongIssuerOrAudience
    );
}
