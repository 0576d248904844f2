//! A CIE OpenID Connect Federation for the tests, on loopback: a trust anchor and a CIE
//! OpenID provider that sign real entity statements and tokens with real keys (josekit),
//! plus a provider the trust anchor does not know. Knobs make the provider misbehave in
//! every way the relying party must refuse. The Python peers (`scripts/cie-federation.sh`)
//! prove interoperability; this one makes the refusals fast and exhaustive.

use crate::auth_support::*;
use crate::oidc_support::*;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::KeyPair;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use procura::clock::Clock;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

pub const SPID_L1: &str = "https://www.spid.gov.it/SpidL1";
pub const SPID_L2: &str = "https://www.spid.gov.it/SpidL2";
pub const SPID_L3: &str = "https://www.spid.gov.it/SpidL3";
pub const FISCAL: &str = "https://attributes.eid.gov.it/fiscal_number";
pub const LEGACY_FISCAL: &str = "https://attributes.spid.gov.it/fiscal_number";
pub const CF: &str = "GDASDV00A01H501J";

/// procura's CIE keys, made once per test run (RSA-3072 generation is slow) and shared
/// read-only by every test app.
pub fn procura_keys_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cie-test-keys");
        procura::cie::keys::CieKeys::load(&dir, true).unwrap();
        dir
    })
    .clone()
}

/// A signing key of a federation party.
pub struct PartyKey {
    pub pem: Vec<u8>,
    pub jwk: Jwk,
    pub alg: &'static str,
}

impl PartyKey {
    pub fn rsa(kid: &str) -> Self {
        let pair = RsaKeyPair::generate(2048).unwrap();
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(kid);
        jwk.set_key_use("sig");
        Self {
            pem: pair.to_pem_private_key(),
            jwk,
            alg: "RS256",
        }
    }

    pub fn ec(kid: &str) -> Self {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(kid);
        jwk.set_key_use("sig");
        Self {
            pem: pair.to_pem_private_key(),
            jwk,
            alg: "ES256",
        }
    }

    pub fn kid(&self) -> &str {
        self.jwk.key_id().unwrap()
    }

    /// Signs `claims` (JWS compact) with `alg` (RS256/RS512 for RSA keys, ES256 for EC).
    pub fn sign_as(&self, alg: &str, claims: &Value, typ: Option<&str>) -> String {
        let mut header = josekit::jws::JwsHeader::new();
        header.set_key_id(self.kid());
        if let Some(t) = typ {
            header.set_token_type(t);
        }
        let payload = serde_json::to_vec(claims).unwrap();
        match alg {
            "RS256" => josekit::jws::serialize_compact(
                &payload,
                &header,
                &josekit::jws::RS256.signer_from_pem(&self.pem).unwrap(),
            ),
            "RS512" => josekit::jws::serialize_compact(
                &payload,
                &header,
                &josekit::jws::RS512.signer_from_pem(&self.pem).unwrap(),
            ),
            "RS384" => josekit::jws::serialize_compact(
                &payload,
                &header,
                &josekit::jws::RS384.signer_from_pem(&self.pem).unwrap(),
            ),
            _ => josekit::jws::serialize_compact(
                &payload,
                &header,
                &josekit::jws::ES256.signer_from_pem(&self.pem).unwrap(),
            ),
        }
        .unwrap()
    }

    pub fn sign(&self, claims: &Value, typ: Option<&str>) -> String {
        self.sign_as(self.alg, claims, typ)
    }
}

fn jwks(keys: &[&Jwk]) -> Value {
    json!({ "keys": keys.iter().map(|k| Value::Object(k.as_ref().clone())).collect::<Vec<_>>() })
}

/// How the provider behaves; every field is a way to be wrong.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// Seconds from now to the `exp` of the provider's entity configuration.
    pub op_configuration_ttl: i64,
    /// The `acr` of the ID token.
    pub acr: String,
    /// Change the ID token payload after signing it.
    pub tamper_id_token: bool,
    /// Sign the ID token with this algorithm (RS256, RS512, ES256, or a forbidden one).
    pub id_token_alg: String,
    /// Encrypt the ID token to procura (alg, enc).
    pub id_token_encryption: Option<(String, String)>,
    /// Encrypt userinfo to procura with (alg, enc); `None` sends the bare JWS.
    pub userinfo_encryption: Option<(String, String)>,
    /// The fiscal number claim name in userinfo and the ID token; `None` leaves it out.
    pub fiscal_claim: Option<String>,
    pub fiscal_number: String,
    /// Put another `nonce` in the ID token.
    pub wrong_nonce: bool,
    /// Another `sub` in userinfo.
    pub userinfo_other_sub: bool,
    /// An ID token `exp` in the past.
    pub id_token_expired: bool,
    /// Pad the token response past any sane size.
    pub oversized_token_response: bool,
    /// Answer the token request only after this many seconds.
    pub stall_token_secs: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            op_configuration_ttl: 3600,
            acr: SPID_L3.into(),
            tamper_id_token: false,
            id_token_alg: "RS256".into(),
            id_token_encryption: None,
            userinfo_encryption: Some(("RSA-OAEP-256".into(), "A256CBC-HS512".into())),
            fiscal_claim: Some(FISCAL.into()),
            fiscal_number: format!("TINIT-{CF}"),
            wrong_nonce: false,
            userinfo_other_sub: false,
            id_token_expired: false,
            oversized_token_response: false,
            stall_token_secs: 0,
        }
    }
}

/// A code the provider issued after the (simulated) login at its authorization endpoint.
#[derive(Debug, Clone)]
struct Issued {
    nonce: String,
    code_challenge: String,
}

pub struct Federation {
    pub base: String,
    pub ta: PartyKey,
    pub op_federation: PartyKey,
    pub op_signing: PartyKey,
    pub op_signing_ec: PartyKey,
    pub rogue: PartyKey,
    pub knobs: Mutex<Knobs>,
    /// procura's clock, once procura runs: the federation dates its statements by it.
    clock: Mutex<Option<Arc<dyn Clock>>>,
    codes: Mutex<HashMap<String, Issued>>,
    access_tokens: Mutex<HashMap<String, String>>,
    /// procura's relying-party keys, learnt from its entity configuration.
    procura_keys: Mutex<Vec<Jwk>>,
    pub revoked: Mutex<Vec<String>>,
    /// Every path fetched, in order.
    pub fetched: Mutex<Vec<String>>,
    /// The client assertions received at the token endpoint (verified).
    pub assertions: Mutex<Vec<Value>>,
}

impl Federation {
    pub fn ta_id(&self) -> String {
        format!("{}/ta", self.base)
    }

    pub fn op_id(&self) -> String {
        format!("{}/op", self.base)
    }

    pub fn rogue_id(&self) -> String {
        format!("{}/rogue", self.base)
    }

    fn now(&self) -> i64 {
        match self.clock.lock().unwrap().as_ref() {
            Some(c) => c.now().timestamp(),
            None => chrono::Utc::now().timestamp(),
        }
    }

    fn ta_configuration(&self) -> String {
        let now = self.now();
        self.ta.sign(
            &json!({
                "iss": self.ta_id(), "sub": self.ta_id(), "iat": now, "exp": now + 86400,
                "jwks": jwks(&[&self.ta.jwk]),
                "metadata": { "federation_entity": {
                    "organization_name": "Trust anchor di prova",
                    "federation_fetch_endpoint": format!("{}/ta/fetch", self.base),
                }},
            }),
            Some("entity-statement+jwt"),
        )
    }

    fn op_metadata(&self) -> Value {
        let op = self.op_id();
        json!({
            "issuer": op,
            "authorization_endpoint": format!("{op}/authorization"),
            "token_endpoint": format!("{op}/token"),
            "userinfo_endpoint": format!("{op}/userinfo"),
            "revocation_endpoint": format!("{op}/revocation"),
            "id_token_signing_alg_values_supported": ["RS256", "RS512", "ES256", "HS256"],
            "userinfo_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES"],
            "jwks": jwks(&[&self.op_signing.jwk, &self.op_signing_ec.jwk]),
        })
    }

    fn op_configuration(&self) -> String {
        let now = self.now();
        let ttl = self.knobs.lock().unwrap().op_configuration_ttl;
        self.op_federation.sign(
            &json!({
                "iss": self.op_id(), "sub": self.op_id(), "iat": now - 10, "exp": now + ttl,
                "jwks": jwks(&[&self.op_federation.jwk]),
                "authority_hints": [self.ta_id()],
                "metadata": {
                    "openid_provider": self.op_metadata(),
                    "federation_entity": { "organization_name": "OP CIE di prova" },
                },
            }),
            Some("entity-statement+jwt"),
        )
    }

    fn rogue_configuration(&self) -> String {
        let now = self.now();
        let mut md = self.op_metadata();
        md["issuer"] = json!(self.rogue_id());
        self.rogue.sign(
            &json!({
                "iss": self.rogue_id(), "sub": self.rogue_id(), "iat": now, "exp": now + 3600,
                "jwks": jwks(&[&self.rogue.jwk]),
                "authority_hints": [self.ta_id()],
                "metadata": { "openid_provider": md },
            }),
            Some("entity-statement+jwt"),
        )
    }

    /// The trust anchor's statement about `sub`: only the provider is its subordinate. Its
    /// policy keeps only the signature algorithms the rules allow.
    fn ta_fetch(&self, sub: &str) -> Option<String> {
        if sub != self.op_id() {
            return None;
        }
        let now = self.now();
        Some(self.ta.sign(
            &json!({
                "iss": self.ta_id(), "sub": sub, "iat": now, "exp": now + 7200,
                "jwks": jwks(&[&self.op_federation.jwk]),
                "metadata_policy": { "openid_provider": {
                    "id_token_signing_alg_values_supported": { "subset_of": ["RS256", "RS512", "ES256"] },
                    "token_endpoint": { "essential": true },
                }},
            }),
            Some("entity-statement+jwt"),
        ))
    }

    /// The trust anchor's public keys, as the file procura pins.
    pub fn ta_jwks_file(&self, dir: &std::path::Path) -> PathBuf {
        let path = dir.join("ta.jwks.json");
        std::fs::write(&path, jwks(&[&self.ta.jwk]).to_string()).unwrap();
        path
    }

    /// Learns procura's relying-party keys from its entity configuration (as a provider does
    /// through the trust chain).
    pub async fn learn_procura(&self, procura_base: &str) {
        let jwt = reqwest::get(format!("{procura_base}/.well-known/openid-federation"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let claims = jwt_claims(&jwt);
        let keys: Vec<Jwk> = claims["metadata"]["openid_relying_party"]["jwks"]["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| Jwk::from_map(k.as_object().unwrap().clone()).unwrap())
            .collect();
        *self.procura_keys.lock().unwrap() = keys;
    }

    fn procura_key(&self, key_use: &str, kty: &str) -> Jwk {
        self.procura_keys
            .lock()
            .unwrap()
            .iter()
            .find(|k| k.key_use() == Some(key_use) && k.key_type() == kty)
            .cloned()
            .expect("learn_procura first")
    }

    /// The provider's authorization endpoint, as the browser meets it: checks the request
    /// object (signed by procura's relying-party key) and returns its claims and a code.
    pub fn authorize(&self, location: &str) -> (Value, String) {
        let url = reqwest::Url::parse(location).unwrap();
        assert!(
            location.starts_with(&format!("{}/authorization?", self.op_id())),
            "{location}"
        );
        let param = |n: &str| {
            url.query_pairs()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.into_owned())
        };
        let request = param("request").expect("a request object");
        let keys = self.procura_keys.lock().unwrap().clone();
        let verified =
            procura::cie::jose::verify(&request, &keys).expect("request object signed by procura");
        let claims = Value::Object(verified.payload);
        assert_eq!(param("client_id").as_deref(), claims["client_id"].as_str());
        assert_eq!(
            param("code_challenge").as_deref(),
            claims["code_challenge"].as_str()
        );
        assert_eq!(param("scope").as_deref(), claims["scope"].as_str());
        let code = uuid::Uuid::new_v4().simple().to_string();
        self.codes.lock().unwrap().insert(
            code.clone(),
            Issued {
                nonce: claims["nonce"].as_str().unwrap().to_owned(),
                code_challenge: claims["code_challenge"].as_str().unwrap().to_owned(),
            },
        );
        (claims, code)
    }

    fn encrypt(&self, plain: &str, alg: &str, enc: &str) -> String {
        let mut header = josekit::jwe::JweHeader::new();
        header.set_content_encryption(enc);
        header.set_content_type("JWT");
        let encrypter: Box<dyn josekit::jwe::JweEncrypter> = match alg {
            "ECDH-ES" => Box::new(
                josekit::jwe::ECDH_ES
                    .encrypter_from_jwk(&self.procura_key("enc", "EC"))
                    .unwrap(),
            ),
            "RSA-OAEP" => Box::new(
                josekit::jwe::RSA_OAEP
                    .encrypter_from_jwk(&self.procura_key("enc", "RSA"))
                    .unwrap(),
            ),
            #[allow(deprecated)]
            "RSA1_5" => Box::new(
                josekit::jwe::RSA1_5
                    .encrypter_from_jwk(&self.procura_key("enc", "RSA"))
                    .unwrap(),
            ),
            _ => Box::new(
                josekit::jwe::RSA_OAEP_256
                    .encrypter_from_jwk(&self.procura_key("enc", "RSA"))
                    .unwrap(),
            ),
        };
        let mut key = encrypter.key_id().map(str::to_owned);
        if key.is_none() {
            key = match alg {
                "ECDH-ES" => self.procura_key("enc", "EC").key_id().map(str::to_owned),
                _ => self.procura_key("enc", "RSA").key_id().map(str::to_owned),
            };
        }
        if let Some(kid) = key {
            header.set_key_id(kid);
        }
        josekit::jwe::serialize_compact(plain.as_bytes(), &header, &*encrypter).unwrap()
    }

    fn token(&self, form: &HashMap<String, String>) -> HttpResponse {
        let field = |n: &str| form.get(n).cloned().unwrap_or_default();
        let keys = self.procura_keys.lock().unwrap().clone();
        let Ok(assertion) = procura::cie::jose::verify(&field("client_assertion"), &keys) else {
            return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
        };
        let a = Value::Object(assertion.payload);
        assert_eq!(a["aud"], format!("{}/token", self.op_id()));
        assert_eq!(a["iss"], a["sub"]);
        assert_eq!(
            field("client_assertion_type"),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        self.assertions.lock().unwrap().push(a.clone());
        let Some(issued) = self.codes.lock().unwrap().remove(&field("code")) else {
            return HttpResponse::BadRequest().json(json!({"error": "invalid_grant"}));
        };
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
        if challenge != issued.code_challenge {
            return HttpResponse::BadRequest()
                .json(json!({"error": "invalid_grant", "error_description": "PKCE"}));
        }
        let knobs = self.knobs.lock().unwrap().clone();
        let now = self.now();
        let access_token = uuid::Uuid::new_v4().simple().to_string();
        let sub = "pairwise-subject-1".to_owned();
        self.access_tokens
            .lock()
            .unwrap()
            .insert(access_token.clone(), sub.clone());
        // at_hash: the left half of the access token's hash, by the ID token's algorithm.
        let at_hash = if knobs.id_token_alg == "RS512" {
            let digest = sha2::Sha512::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..32])
        } else {
            let digest = Sha256::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..16])
        };
        let mut claims = json!({
            "iss": self.op_id(), "sub": sub, "aud": [a["iss"]], "iat": now,
            "exp": if knobs.id_token_expired { now - 600 } else { now + 600 },
            "nonce": if knobs.wrong_nonce { "another-nonce".to_owned() } else { issued.nonce },
            "acr": knobs.acr, "at_hash": at_hash, "jti": uuid::Uuid::new_v4().to_string(),
            "given_name": "Mario", "family_name": "Rossi",
        });
        if let Some(name) = &knobs.fiscal_claim {
            claims[name.as_str()] = json!(knobs.fiscal_number);
        }
        let key = if knobs.id_token_alg == "ES256" {
            &self.op_signing_ec
        } else {
            &self.op_signing
        };
        let mut id_token = key.sign_as(&knobs.id_token_alg, &claims, None);
        if knobs.tamper_id_token {
            let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
            claims["acr"] = json!(SPID_L3);
            claims["given_name"] = json!("Maria");
            parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
            id_token = parts.join(".");
        }
        if let Some((alg, enc)) = &knobs.id_token_encryption {
            id_token = self.encrypt(&id_token, alg, enc);
        }
        let mut answer = json!({
            "access_token": access_token, "id_token": id_token, "token_type": "Bearer", "expires_in": 1800,
        });
        if knobs.oversized_token_response {
            answer["padding"] = json!("x".repeat(1024 * 1024));
        }
        HttpResponse::Ok().json(answer)
    }

    fn userinfo(&self, req: &HttpRequest) -> HttpResponse {
        let bearer = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let Some(sub) = self.access_tokens.lock().unwrap().get(bearer).cloned() else {
            return HttpResponse::Unauthorized().finish();
        };
        let knobs = self.knobs.lock().unwrap().clone();
        let mut claims = json!({
            "sub": if knobs.userinfo_other_sub { "someone-else".to_owned() } else { sub },
            "given_name": "Mario", "family_name": "Rossi",
        });
        if let Some(name) = &knobs.fiscal_claim {
            claims[name.as_str()] = json!(knobs.fiscal_number);
        }
        let jws = self.op_signing.sign(&claims, Some("JWT"));
        let body = match &knobs.userinfo_encryption {
            Some((alg, enc)) => self.encrypt(&jws, alg, enc),
            None => jws,
        };
        HttpResponse::Ok()
            .content_type("application/jwt")
            .body(body)
    }
}

async fn route(
    fed: web::Data<Arc<Federation>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let path = req.path().to_owned();
    fed.fetched
        .lock()
        .unwrap()
        .push(format!("{path}?{}", req.query_string()));
    let query: HashMap<String, String> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let statement = |jwt: String| {
        HttpResponse::Ok()
            .content_type("application/entity-statement+jwt")
            .body(jwt)
    };
    match path.as_str() {
        "/ta/.well-known/openid-federation" => statement(fed.ta_configuration()),
        "/ta/fetch" => match fed.ta_fetch(query.get("sub").map(String::as_str).unwrap_or("")) {
            Some(jwt) => statement(jwt),
            None => HttpResponse::NotFound().json(json!({"error": "not_found"})),
        },
        "/op/.well-known/openid-federation" => statement(fed.op_configuration()),
        "/rogue/.well-known/openid-federation" => statement(fed.rogue_configuration()),
        "/op/token" => {
            let stall = fed.knobs.lock().unwrap().stall_token_secs;
            if stall > 0 {
                actix_web::rt::time::sleep(std::time::Duration::from_secs(stall)).await;
            }
            fed.token(&serde_urlencoded::from_bytes(&body).unwrap_or_default())
        }
        "/op/userinfo" => fed.userinfo(&req),
        "/op/revocation" => {
            let form: HashMap<String, String> =
                serde_urlencoded::from_bytes(&body).unwrap_or_default();
            fed.revoked
                .lock()
                .unwrap()
                .push(form.get("token").cloned().unwrap_or_default());
            HttpResponse::Ok().finish()
        }
        _ => HttpResponse::NotFound().finish(),
    }
}

/// Starts the federation on a free loopback port.
pub fn start_federation() -> Arc<Federation> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let fed = Arc::new(Federation {
        base,
        ta: PartyKey::rsa("ta-1"),
        op_federation: PartyKey::rsa("op-fed-1"),
        op_signing: PartyKey::rsa("op-sig-1"),
        op_signing_ec: PartyKey::ec("op-sig-ec-1"),
        rogue: PartyKey::rsa("rogue-1"),
        knobs: Mutex::new(Knobs::default()),
        clock: Mutex::new(None),
        codes: Mutex::default(),
        access_tokens: Mutex::default(),
        procura_keys: Mutex::default(),
        revoked: Mutex::default(),
        fetched: Mutex::default(),
        assertions: Mutex::default(),
    });
    let data = web::Data::new(fed.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(route))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    fed
}

/// A live procura with CIE on, in the federation `fed` (whose clock is procura's).
pub struct CieApp {
    pub live: LiveApp,
    pub fed: Arc<Federation>,
    _dir: tempfile::TempDir,
}

pub async fn cie_app() -> CieApp {
    cie_app_with(|_| {}).await
}

pub async fn cie_app_with(adjust: impl FnOnce(&mut procura::config::Config)) -> CieApp {
    let fed = start_federation();
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = fed.ta_jwks_file(dir.path());
    let (ta, op) = (fed.ta_id(), fed.op_id());
    let keys = procura_keys_dir();
    let live = LiveApp::spawn_with(move |c| {
        c.login.methods = vec!["pin".into(), "cie".into()];
        c.cie.trust_anchor = ta;
        c.cie.trust_anchor_jwks = Some(jwks_file);
        c.cie.keys_dir = Some(keys);
        c.cie.providers = vec![procura::config::CieProviderConfig {
            entity_id: op,
            name: "CIE".into(),
        }];
        adjust(c);
    })
    .await;
    let clock: Arc<dyn Clock> = live.app.clock.clone();
    *fed.clock.lock().unwrap() = Some(clock);
    fed.learn_procura(&live.base).await;
    CieApp {
        live,
        fed,
        _dir: dir,
    }
}

impl CieApp {
    pub fn base(&self) -> &str {
        &self.live.base
    }

    /// Moves procura's clock (the federation reads the same instant).
    pub fn advance(&self, by: chrono::Duration) {
        self.live.app.clock.advance(by);
    }

    pub fn knobs(&self) -> std::sync::MutexGuard<'_, Knobs> {
        self.fed.knobs.lock().unwrap()
    }
}
