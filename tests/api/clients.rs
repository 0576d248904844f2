//! Relying parties: `procura clients …` as an operator runs it, and client authentication
//! (client_secret_basic, public, private_key_jwt) as the token endpoint will use it.

use crate::helpers::{AUDIT_KEY_HEX, TestApp, blocking, text};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use procura::audit::Party;
use procura::db::DbConn;
use procura::oauth::client::{
    self, AuthMethod, ClientAuthError, Credentials, GrantType, JWT_BEARER_ASSERTION_TYPE, NewClient,
};
use procura::oauth::scope::ScopeSet;
use serde_json::{Value, json};
use std::process::{Command, Output};

const TOKEN_ENDPOINT: &str = "https://procura.test/oauth/token";
const ISSUER: &str = "https://procura.test";
const AUDIENCES: &[&str] = &[TOKEN_ENDPOINT, ISSUER];

/// Runs `procura` against the test app's database.
struct Procura {
    env: Vec<(&'static str, String)>,
}

impl Procura {
    fn for_app(app: &TestApp) -> Self {
        Self {
            env: vec![
                ("PROCURA_DATABASE__URL", app.database_url().to_owned()),
                (
                    "PROCURA_KEYS__DIR",
                    app.config.keys.dir.display().to_string(),
                ),
                ("PROCURA_AUDIT__HMAC_KEY", AUDIT_KEY_HEX.to_owned()),
                ("PROCURA_LOG__FILTER", "error".to_owned()),
            ],
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_procura"));
        cmd.args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

/// A fresh P-256 key pair: signs assertions; its public JWK is what the client registers.
struct TestKey {
    pkcs8: Vec<u8>,
    kid: String,
    jwk: Value,
}

impl TestKey {
    fn new(kid: &str) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        assert_eq!(point.len(), 65);
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "kid": kid,
            "use": "sig",
            "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Self {
            pkcs8: pkcs8.as_ref().to_vec(),
            kid: kid.to_owned(),
            jwk,
        }
    }

    fn jwks(&self) -> String {
        json!({ "keys": [self.jwk] }).to_string()
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with_kid(claims, Some(&self.kid))
    }

    fn sign_with_kid(&self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

fn assertion_claims(client_id: &str, aud: &str, now: DateTime<Utc>, jti: &str) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now.timestamp(),
        "exp": (now + Duration::minutes(2)).timestamp(),
        "jti": jti,
    })
}

fn assertion(client_id: Option<&str>, jwt: String) -> Credentials {
    Credentials::Assertion {
        client_id: client_id.map(str::to_owned),
        assertion: jwt,
    }
}

fn new_client(id: &str, method: AuthMethod) -> NewClient {
    let code = method == AuthMethod::None;
    NewClient {
        client_id: id.into(),
        display_name: format!("Test client {id}"),
        auth_method: method,
        redirect_uris: if code {
            vec!["https://rp.example.it/cb".into()]
        } else {
            vec![]
        },
        post_logout_redirect_uris: vec![],
        scopes: ScopeSet::parse(if code {
            "openid inps:read"
        } else {
            "inps:read"
        }),
        grant_types: vec![if code {
            GrantType::AuthorizationCode
        } else {
            GrantType::ClientCredentials
        }],
        jwks: None,
    }
}

fn audit_actions(conn: &mut DbConn, action: &str) -> i64 {
    use procura::db::schema::audit_log;
    audit_log::table
        .filter(audit_log::action.eq(action))
        .count()
        .get_result(conn)
        .unwrap()
}

#[actix_web::test]
async fn operators_add_list_and_remove_clients() {
    let app = TestApp::spawn().await;
    let cli = Procura::for_app(&app);
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = dir.path().join("batch.jwks.json");
    let key = TestKey::new("batch-2026");
    std::fs::write(&jwks_file, key.jwks()).unwrap();
    let private_jwks = dir.path().join("private.jwks.json");
    let mut with_d = key.jwk.clone();
    with_d["d"] = json!("AAAA");
    std::fs::write(&private_jwks, json!({ "keys": [with_d] }).to_string()).unwrap();

    let (outputs, secret) = blocking(move || {
        let mut o = std::collections::BTreeMap::new();
        o.insert(
            "public",
            cli.run(&[
                "clients",
                "add",
                "--id",
                "myinps-web",
                "--name",
                "MyINPS web",
                "--type",
                "public",
                "--redirect-uri",
                "https://www.inps.it/myinps/callback",
                "--redirect-uri",
                "http://127.0.0.1:8080/callback",
                "--post-logout-redirect-uri",
                "https://www.inps.it/",
                "--scope",
                "openid profile inps:read",
                "--grant",
                "authorization_code",
                "--grant",
                "refresh_token",
            ]),
        );
        o.insert(
            "basic",
            cli.run(&[
                "clients",
                "add",
                "--id",
                "patronato-portal",
                "--name",
                "Patronato portal",
                "--type",
                "basic",
                "--redirect-uri",
                "https://patronato.example.it/cb",
                "--scope",
                "openid",
                "--scope",
                "delegations:read",
                "--grant",
                "authorization_code,refresh_token",
            ]),
        );
        o.insert(
            "jwt",
            cli.run(&[
                "clients",
                "add",
                "--id",
                "pensions-batch",
                "--name",
                "Pensions batch",
                "--type",
                "private-key-jwt",
                "--jwks-file",
                jwks_file.to_str().unwrap(),
                "--scope",
                "inps:read",
                "--grant",
                "client_credentials",
            ]),
        );
        o.insert("list", cli.run(&["clients", "list"]));
        o.insert(
            "duplicate",
            cli.run(&[
                "clients",
                "add",
                "--id",
                "myinps-web",
                "--name",
                "Again",
                "--type",
                "public",
                "--redirect-uri",
                "https://x.example.it/cb",
                "--scope",
                "openid",
                "--grant",
                "authorization_code",
            ]),
        );
        let refused = |id: &'static str, extra: &[&str]| {
            let mut args = vec!["clients", "add", "--id", id, "--name", "Refused"];
            args.extend_from_slice(extra);
            cli.run(&args)
        };
        o.insert(
            "http_redirect",
            refused(
                "bad-redirect",
                &[
                    "--type",
                    "public",
                    "--redirect-uri",
                    "http://rp.example.it/cb",
                    "--scope",
                    "openid",
                    "--grant",
                    "authorization_code",
                ],
            ),
        );
        o.insert(
            "fragment_redirect",
            refused(
                "bad-fragment",
                &[
                    "--type",
                    "public",
                    "--redirect-uri",
                    "https://rp.example.it/cb#x",
                    "--scope",
                    "openid",
                    "--grant",
                    "authorization_code",
                ],
            ),
        );
        o.insert(
            "unknown_scope",
            refused(
                "bad-scope",
                &[
                    "--type",
                    "public",
                    "--redirect-uri",
                    "https://rp.example.it/cb",
                    "--scope",
                    "openid admin",
                    "--grant",
                    "authorization_code",
                ],
            ),
        );
        o.insert(
            "public_cc",
            refused(
                "bad-public",
                &[
                    "--type",
                    "public",
                    "--redirect-uri",
                    "https://rp.example.it/cb",
                    "--scope",
                    "openid",
                    "--grant",
                    "authorization_code",
                    "--grant",
                    "client_credentials",
                ],
            ),
        );
        o.insert(
            "private_jwks",
            refused(
                "bad-jwks",
                &[
                    "--type",
                    "private-key-jwt",
                    "--jwks-file",
                    private_jwks.to_str().unwrap(),
                    "--scope",
                    "inps:read",
                    "--grant",
                    "client_credentials",
                ],
            ),
        );
        o.insert(
            "missing_jwks",
            refused(
                "bad-nojwks",
                &[
                    "--type",
                    "private-key-jwt",
                    "--scope",
                    "inps:read",
                    "--grant",
                    "client_credentials",
                ],
            ),
        );
        o.insert(
            "remove",
            cli.run(&["clients", "remove", "patronato-portal"]),
        );
        o.insert(
            "remove_again",
            cli.run(&["clients", "remove", "patronato-portal"]),
        );
        o.insert("list_after", cli.run(&["clients", "list"]));
        o.insert("verify", cli.run(&["audit", "verify"]));
        o.insert("help", cli.run(&["clients", "add", "--help"]));
        let secret = String::from_utf8_lossy(&o["basic"].stdout)
            .lines()
            .find_map(|l| l.strip_prefix("client_secret: ").map(str::to_owned));
        (o, secret)
    })
    .await;
    let t = |name: &str| text(&outputs[name]);
    let ok = |name: &str| {
        assert!(outputs[name].status.success(), "{name}: {}", t(name));
    };
    let refused = |name: &str, message: &str| {
        assert_eq!(outputs[name].status.code(), Some(1), "{name}: {}", t(name));
        assert!(t(name).contains(message), "{name}: {}", t(name));
    };

    ok("public");
    assert!(
        t("public").contains("client_id: myinps-web"),
        "{}",
        t("public")
    );
    assert!(!t("public").contains("client_secret"), "{}", t("public"));

    ok("basic");
    let secret = secret.expect("the basic client's secret is printed");
    assert_eq!(secret.len(), 43, "{secret}");
    assert!(
        String::from_utf8_lossy(&outputs["basic"].stderr).contains("cannot be shown again"),
        "{}",
        t("basic")
    );

    ok("jwt");
    ok("list");
    let list = String::from_utf8_lossy(&outputs["list"].stdout).into_owned();
    let header = list.lines().next().unwrap();
    for column in ["ID", "NAME", "TYPE", "GRANTS", "SCOPES", "REDIRECT URIS"] {
        assert!(header.contains(column), "{list}");
    }
    for expected in [
        "myinps-web",
        "MyINPS web",
        "authorization_code,refresh_token",
        "inps:read openid profile",
        "https://www.inps.it/myinps/callback http://127.0.0.1:8080/callback",
        "patronato-portal",
        "client_secret_basic",
        "delegations:read openid",
        "pensions-batch",
        "private_key_jwt",
        "client_credentials",
    ] {
        assert!(list.contains(expected), "{expected} missing from:\n{list}");
    }
    assert_eq!(list.lines().count(), 4, "{list}");
    // A public client's TYPE says so (not its auth method `none`).
    let web = list.lines().find(|l| l.starts_with("myinps-web")).unwrap();
    let columns: Vec<&str> = web
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(columns.get(2), Some(&"public"), "{list}");
    assert!(!list.contains(" none "), "{list}");
    assert!(!list.contains(&secret), "{list}");

    refused("duplicate", "a client with id `myinps-web` already exists");
    refused("http_redirect", "loopback");
    refused("fragment_redirect", "fragment");
    refused("unknown_scope", "unknown scope `admin`");
    refused("public_cc", "cannot use the client_credentials grant");
    refused("private_jwks", "private key material");
    refused("missing_jwks", "needs a JWK Set");

    ok("remove");
    refused("remove_again", "no client with id `patronato-portal`");
    let after = String::from_utf8_lossy(&outputs["list_after"].stdout).into_owned();
    assert!(!after.contains("patronato-portal"), "{after}");
    assert!(after.contains("pensions-batch"), "{after}");
    ok("verify");
    assert!(t("help").contains("private-key-jwt") && t("help").contains("--jwks-file"));

    // The printed secret authenticates the client (until the client was removed);
    // every registration and removal was audited.
    let (registered, removed, public_ok) = app
        .with_db(move |conn, _, now| {
            let public = client::authenticate(
                conn,
                &Credentials::Public {
                    client_id: "myinps-web".into(),
                },
                AUDIENCES,
                now,
            );
            (
                audit_actions(conn, "client.registered"),
                audit_actions(conn, "client.removed"),
                public.map(|c| c.redirect_uris),
            )
        })
        .await;
    assert_eq!((registered, removed), (3, 1));
    assert_eq!(
        public_ok.unwrap(),
        vec![
            "https://www.inps.it/myinps/callback".to_owned(),
            "http://127.0.0.1:8080/callback".to_owned()
        ]
    );
}

#[actix_web::test]
async fn basic_and_public_clients_authenticate() {
    let app = TestApp::spawn().await;
    app.with_db(|conn, key, now| {
        let basic = client::register(
            conn,
            key,
            new_client("backoffice", AuthMethod::ClientSecretBasic),
            Party::cli("test"),
            now,
        )
        .unwrap();
        let secret = basic.secret.clone().unwrap();
        assert_eq!(
            basic.client.secret_hash.as_deref(),
            Some(procura::oauth::token_hash::hash(&secret).as_str())
        );
        assert!(!format!("{basic:?}").contains(&secret));
        client::register(
            conn,
            key,
            new_client("myinps-app", AuthMethod::None),
            Party::cli("test"),
            now,
        )
        .unwrap();

        // Right secret, through the Authorization header as a client sends it.
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("backoffice:{secret}"))
        );
        let creds = client::credentials_from(Some(&header), None, None, None, None).unwrap();
        let c = client::authenticate(conn, &creds, AUDIENCES, now).unwrap();
        assert_eq!(c.client_id, "backoffice");
        assert!(c.allows_grant(GrantType::ClientCredentials) && !c.is_public());

        let wrong = Credentials::Basic {
            client_id: "backoffice".into(),
            secret: format!("{secret}x"),
        };
        let wrong = client::authenticate(conn, &wrong, AUDIENCES, now).unwrap_err();
        assert!(matches!(wrong, ClientAuthError::WrongSecret(_)), "{wrong}");
        let unknown = Credentials::Basic {
            client_id: "nobody".into(),
            secret: secret.clone(),
        };
        let unknown = client::authenticate(conn, &unknown, AUDIENCES, now).unwrap_err();
        assert!(matches!(unknown, ClientAuthError::UnknownClient(_)));
        // The client cannot tell the two apart.
        assert_eq!(wrong.description(), unknown.description());
        assert_eq!(wrong.error_code(), "invalid_client");

        // A confidential client cannot skip its secret.
        let no_secret = Credentials::Public {
            client_id: "backoffice".into(),
        };
        assert!(matches!(
            client::authenticate(conn, &no_secret, AUDIENCES, now),
            Err(ClientAuthError::WrongMethod { .. })
        ));

        // A public client: its id is enough; a secret is not something it has.
        let public = Credentials::Public {
            client_id: "myinps-app".into(),
        };
        let c = client::authenticate(conn, &public, AUDIENCES, now).unwrap();
        assert!(c.is_public() && c.has_redirect_uri("https://rp.example.it/cb"));
        assert!(!c.has_redirect_uri("https://rp.example.it/cb/"));
        let with_secret = Credentials::Basic {
            client_id: "myinps-app".into(),
            secret: "guess".into(),
        };
        assert!(matches!(
            client::authenticate(conn, &with_secret, AUDIENCES, now),
            Err(ClientAuthError::WrongMethod { .. })
        ));

        // Duplicate id: refused by the primary key, nothing half-written.
        let again = client::register(
            conn,
            key,
            new_client("backoffice", AuthMethod::None),
            Party::cli("test"),
            now,
        )
        .unwrap_err();
        assert!(matches!(again, client::ClientError::Exists(ref id) if id == "backoffice"));
        assert_eq!(
            client::find(conn, "backoffice")
                .unwrap()
                .unwrap()
                .auth_method,
            AuthMethod::ClientSecretBasic
        );
        assert_eq!(client::list(conn).unwrap().len(), 2);
    })
    .await;
}

#[actix_web::test]
async fn private_key_jwt_assertions_are_verified_and_single_use() {
    let app = TestApp::spawn().await;
    let key = TestKey::new("k1");
    let other = TestKey::new("k1"); // same kid, different key
    app.with_db(move |conn, audit_key, now| {
        let id = "pensions-batch";
        let new = NewClient {
            jwks: Some(key.jwks()),
            ..new_client(id, AuthMethod::PrivateKeyJwt)
        };
        let registered = client::register(conn, audit_key, new, Party::cli("test"), now).unwrap();
        assert!(registered.secret.is_none());
        let auth = |conn: &mut DbConn, creds: &Credentials| {
            client::authenticate(conn, creds, AUDIENCES, now)
        };

        // Good assertion, audience the token endpoint; found through `iss` alone.
        let jwt = key.sign(&assertion_claims(id, TOKEN_ENDPOINT, now, "jti-1"));
        let c = auth(conn, &assertion(None, jwt.clone())).unwrap();
        assert_eq!(c.client_id, id);
        // The same assertion again: a replay.
        let replay = auth(conn, &assertion(Some(id), jwt)).unwrap_err();
        assert!(matches!(replay, ClientAuthError::Replayed(_)), "{replay}");
        assert_eq!(replay.error_code(), "invalid_client");

        // The issuer as audience, an `aud` array, and no kid are all fine.
        let jwt = key.sign(&assertion_claims(id, ISSUER, now, "jti-2"));
        assert!(auth(conn, &assertion(Some(id), jwt)).is_ok());
        let mut claims = assertion_claims(id, ISSUER, now, "jti-3");
        claims["aud"] = json!(["https://elsewhere.example", TOKEN_ENDPOINT]);
        let jwt = key.sign_with_kid(&claims, None);
        assert!(auth(conn, &assertion(None, jwt)).is_ok());

        let refused = |conn: &mut DbConn, claims: Value, signer: &TestKey, why: &str| {
            let jwt = signer.sign(&claims);
            let err = auth(conn, &assertion(Some(id), jwt)).unwrap_err();
            assert!(
                matches!(err, ClientAuthError::BadAssertion(_)),
                "{why}: {err}"
            );
            assert_eq!(err.description(), "client authentication failed", "{why}");
            err
        };
        let mut expired = assertion_claims(id, TOKEN_ENDPOINT, now, "jti-4");
        expired["iat"] = json!((now - Duration::minutes(5)).timestamp());
        expired["exp"] = json!((now - Duration::seconds(1)).timestamp());
        let err = refused(conn, expired, &key, "expired");
        assert!(err.to_string().contains("expired"), "{err}");
        let mut far = assertion_claims(id, TOKEN_ENDPOINT, now, "jti-5");
        far["exp"] = json!((now + Duration::hours(1)).timestamp());
        refused(conn, far, &key, "exp too far away");
        let mut future = assertion_claims(id, TOKEN_ENDPOINT, now, "jti-6");
        future["iat"] = json!((now + Duration::minutes(5)).timestamp());
        refused(conn, future, &key, "iat in the future");
        let err = refused(
            conn,
            assertion_claims(id, "https://other.example/token", now, "jti-7"),
            &key,
            "wrong aud",
        );
        assert!(err.to_string().contains("aud"), "{err}");
        let err = refused(
            conn,
            assertion_claims(id, TOKEN_ENDPOINT, now, "jti-8"),
            &other,
            "wrong key",
        );
        assert!(err.to_string().contains("signature"), "{err}");
        let mut no_jti = assertion_claims(id, TOKEN_ENDPOINT, now, "x");
        no_jti.as_object_mut().unwrap().remove("jti");
        refused(conn, no_jti, &key, "no jti");
        let mut sub = assertion_claims(id, TOKEN_ENDPOINT, now, "jti-9");
        sub["sub"] = json!("someone-else");
        refused(conn, sub, &key, "sub is not the client");

        // A JWT the client's key did not sign: HMAC with the public key as secret, `none`.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &assertion_claims(id, TOKEN_ENDPOINT, now, "jti-10"),
            &EncodingKey::from_secret(key.jwks().as_bytes()),
        )
        .unwrap();
        assert!(matches!(
            auth(conn, &assertion(Some(id), hs)),
            Err(ClientAuthError::BadAssertion(_))
        ));
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(assertion_claims(id, TOKEN_ENDPOINT, now, "jti-11").to_string())
        );
        assert!(matches!(
            auth(conn, &assertion(Some(id), unsigned)),
            Err(ClientAuthError::BadAssertion(_))
        ));

        // client_id in the body must be the assertion's client.
        let jwt = key.sign(&assertion_claims(id, TOKEN_ENDPOINT, now, "jti-12"));
        assert!(matches!(
            auth(conn, &assertion(Some("another"), jwt)),
            Err(ClientAuthError::ClientIdMismatch)
        ));
        // A private_key_jwt client cannot fall back to a bare client_id.
        assert!(matches!(
            auth(
                conn,
                &Credentials::Public {
                    client_id: id.into()
                }
            ),
            Err(ClientAuthError::WrongMethod { .. })
        ));

        // Parsed from the form as the token endpoint receives it.
        let jwt = key.sign(&assertion_claims(id, TOKEN_ENDPOINT, now, "jti-13"));
        let creds = client::credentials_from(
            None,
            None,
            None,
            Some(JWT_BEARER_ASSERTION_TYPE),
            Some(&jwt),
        )
        .unwrap();
        assert!(auth(conn, &creds).is_ok());

        // Removing the client takes its recorded jtis with it.
        assert!(client::remove(conn, audit_key, id, Party::cli("test"), now).unwrap());
        assert!(client::find(conn, id).unwrap().is_none());
        assert!(!client::remove(conn, audit_key, id, Party::cli("test"), now).unwrap());
    })
    .await;
}

#[actix_web::test]
async fn used_jtis_are_forgotten_once_expired() {
    let app = TestApp::spawn().await;
    let key = TestKey::new("k1");
    let id = "pensions-batch";
    let jwks = key.jwks();
    app.with_db(move |conn, audit_key, now| {
        let new = NewClient {
            jwks: Some(jwks),
            ..new_client(id, AuthMethod::PrivateKeyJwt)
        };
        client::register(conn, audit_key, new, Party::cli("test"), now).unwrap();
    })
    .await;
    let sign = |now| key.sign(&assertion_claims(id, TOKEN_ENDPOINT, now, "same-jti"));
    let jwt = sign(app.clock_now());
    app.with_db(move |conn, _, now| {
        client::authenticate(conn, &assertion(None, jwt), AUDIENCES, now).unwrap();
    })
    .await;
    assert_eq!(jti_count(&app).await, 1);
    // Later, after the first assertion expired, its jti is cleared on the next use.
    app.clock.advance(Duration::minutes(30));
    let jwt = sign(app.clock_now());
    app.with_db(move |conn, _, now| {
        client::authenticate(conn, &assertion(None, jwt), AUDIENCES, now).unwrap();
    })
    .await;
    assert_eq!(jti_count(&app).await, 1);
}

async fn jti_count(app: &TestApp) -> i64 {
    app.with_db(|conn, _, _| {
        use procura::db::schema::client_assertion_jtis;
        client_assertion_jtis::table
            .count()
            .get_result::<i64>(conn)
            .unwrap()
    })
    .await
}
