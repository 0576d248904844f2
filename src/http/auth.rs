//! Bearer-token extractors for the JSON APIs (design §3: authorize first).
//!
//! - [`Principal`]: a live RFC 9068 access token from procura — signature with a published
//!   key, `typ at+jwt`, issuer, audience, expiry against the injected clock, and liveness in
//!   the database (`oauth::liveness`, every request), so a revoked token or grant is refused
//!   at once. The signature may be answered from memory by the token's hash (`oauth::jwt_cache`).
//! - [`OperatorPrincipal`]: a `Principal` with scope `operator`, issued to a person who is an
//!   active operator in the database *now* (a disabled operator is refused on the next
//!   request, whatever roles the token names), logged in at `operator.min_level` or above.
//!
//! Refusals are problems: `401 unauthorized` with an RFC 6750 `WWW-Authenticate: Bearer`
//! challenge (no token, or not a live one), `401 insufficient-authentication` with an
//! RFC 9470 challenge (login level too low), `403 forbidden` (scope, person or role missing).
//! Handlers that take a body read it only after these checks, with [`json_body`].

use super::oidc;
use super::problems::Audience;
use super::request_id::RequestId;
use crate::AppState;
use crate::audit::Party;
use crate::db;
use crate::error::{ApiError, ProblemKind};
use crate::login::Level;
use crate::oauth::jwt::AccessTokenClaims;
use crate::oauth::scope::{self, ScopeSet};
use crate::operator::{self, Acting, Operator, Role};
use crate::person::CodiceFiscale;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;

type Extracting<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

const REALM: &str = "Bearer realm=\"procura\"";

/// The caller of a JSON API route, authenticated by a live access token.
#[derive(Debug, Clone)]
pub struct Principal {
    claims: AccessTokenClaims,
    scopes: ScopeSet,
    person: Option<CodiceFiscale>,
    audience: Audience,
    request_id: Option<String>,
}

impl Principal {
    /// The person the token was issued for; `None` for a client acting on its own
    /// (`client_credentials`). For a token from the token exchange, the delegator.
    pub fn person(&self) -> Option<&CodiceFiscale> {
        self.person.as_ref()
    }

    /// For a token from the token exchange, the delegate acting for [`Self::person`]; actions
    /// taken with it are audited with both (domain §6.8). The delegation was checked to be in
    /// force when the token was accepted.
    pub fn acting_delegate(&self) -> Option<CodiceFiscale> {
        let act = self.claims.act.as_ref()?;
        let code = act.fiscal_number.strip_prefix("TINIT-")?;
        CodiceFiscale::parse(code).ok()
    }

    /// The client (relying party) the token was issued to.
    pub fn client_id(&self) -> &str {
        &self.claims.client_id
    }

    pub fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// `403 forbidden` (with an RFC 6750 `insufficient_scope` challenge) unless the token
    /// carries `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        if self.has_scope(scope) {
            return Ok(());
        }
        Err(ApiError::new(
            ProblemKind::Forbidden,
            self.audience.pick(
                format!("L'accesso richiede l'ambito (scope) {scope}."),
                format!("The access token lacks the scope {scope}."),
            ),
        )
        .with_extensions(json!({ "required_scope": scope }))
        .with_challenge(format!(
            "{REALM}, error=\"insufficient_scope\", scope=\"{scope}\""
        )))
    }

    /// The person, or `403 forbidden` for a token a client obtained on its own.
    pub fn require_person(&self) -> Result<&CodiceFiscale, ApiError> {
        self.person.as_ref().ok_or_else(|| {
            ApiError::new(
                ProblemKind::Forbidden,
                self.audience.pick(
                    "L'accesso richiede un token rilasciato a una persona.",
                    "The access token was issued to a client, not to a person.",
                ),
            )
        })
    }

    /// The assurance level of the login the token comes from (`acr`).
    pub fn level(&self) -> Option<Level> {
        self.claims.acr.as_deref().and_then(Level::parse)
    }

    /// Every claim of the (verified, live) access token.
    pub fn claims(&self) -> &AccessTokenClaims {
        &self.claims
    }

    /// The request id, for audit records.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    async fn extract(req: HttpRequest) -> Result<Self, ApiError> {
        let audience = Audience::of(&req);
        let state = app_state(&req)?;
        let Some(token) = oidc::bearer(&req) else {
            return Err(ApiError::new(
                ProblemKind::Unauthorized,
                audience.pick(
                    "Manca il token di accesso (Authorization: Bearer).",
                    "Send an access token as Authorization: Bearer <token>.",
                ),
            )
            .with_challenge(REALM));
        };
        let Some(claims) = oidc::live_access_token(&state, token).await? else {
            return Err(ApiError::new(
                ProblemKind::Unauthorized,
                audience.pick(
                    "Il token di accesso non è valido, è scaduto o è stato revocato.",
                    "The access token is not valid, has expired or has been revoked.",
                ),
            )
            .with_challenge(format!(
                "{REALM}, error=\"invalid_token\", error_description=\"the access token is not valid\""
            )));
        };
        // Person tokens carry `fiscal_number` (TINIT-<code>); client tokens do not.
        let person = claims
            .fiscal_number
            .as_deref()
            .and_then(|f| f.strip_prefix("TINIT-"))
            .and_then(|code| CodiceFiscale::parse(code).ok());
        Ok(Self {
            scopes: ScopeSet::parse(&claims.scope),
            claims,
            person,
            audience,
            request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        })
    }
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("AppState missing from the application"))
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(Self::extract(req.clone()))
    }
}

/// An operator calling `/v1/operator/*`: an active operator now, with scope `operator`,
/// logged in at `operator.min_level` or above.
#[derive(Debug, Clone)]
pub struct OperatorPrincipal {
    principal: Principal,
    operator: Operator,
}

impl OperatorPrincipal {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The operator's record as read for this request.
    pub fn operator(&self) -> &Operator {
        &self.operator
    }

    pub fn id(&self) -> &str {
        &self.operator.id
    }

    pub fn roles(&self) -> &[Role] {
        &self.operator.roles
    }

    /// `403 forbidden` unless the operator holds `role`. Call it before reading the body.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.operator.has_role(role) {
            return Ok(());
        }
        Err(ApiError::new(
            ProblemKind::Forbidden,
            format!("This action needs the operator role {}.", role.as_str()),
        )
        .with_extensions(json!({ "required_role": role.as_str() })))
    }

    /// `403 forbidden` unless the operator holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.iter().any(|r| self.operator.has_role(*r)) {
            return Ok(());
        }
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::new(
            ProblemKind::Forbidden,
            format!(
                "This action needs one of the operator roles {}.",
                names.join(", ")
            ),
        )
        .with_extensions(json!({ "required_role": names })))
    }

    /// The audit actor (`operator:<id>`) and the request id, for domain functions.
    pub fn acting(&self) -> Acting {
        Acting {
            actor: Party::operator(&self.operator.id),
            request_id: self.principal.request_id.clone(),
        }
    }

    async fn extract(req: HttpRequest) -> Result<Self, ApiError> {
        let principal = Principal::extract(req.clone()).await?;
        principal.require_scope(scope::OPERATOR)?;
        let code = principal.require_person()?.as_str().to_owned();
        let state = app_state(&req)?;
        // The database decides, not the token's `roles`: disabling takes effect at once.
        let found = db::run(&state.db, move |c| {
            operator::active_by_codice_fiscale(c, &code)
        })
        .await?;
        let Some(operator) = found else {
            return Err(ApiError::new(
                ProblemKind::Forbidden,
                "The person is not an active operator.",
            ));
        };
        let min = state.config.operator.min_level;
        if !principal.level().is_some_and(|l| l.satisfies(min)) {
            // RFC 9470: the client may send the operator through a stronger login.
            return Err(ApiError::new(
                ProblemKind::InsufficientAuthentication,
                format!(
                    "The operator API needs a login at level {} or above; log in again with a \
                     stronger method.",
                    min.uri()
                ),
            )
            .with_extensions(json!({ "acr_values": min.uri() }))
            .with_challenge(format!(
                "{REALM}, error=\"insufficient_user_authentication\", \
                 error_description=\"a stronger login is needed\", acr_values=\"{}\"",
                min.uri()
            )));
        }
        Ok(Self {
            principal,
            operator,
        })
    }
}

impl FromRequest for OperatorPrincipal {
    type Error = ApiError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(Self::extract(req.clone()))
    }
}

/// Reads and parses a JSON body after the caller was authorized. (Actix polls a handler's
/// extractors together, so a `Json` argument could answer a malformed body before the
/// token was checked.) The body must be a JSON object ([`super::object`]); errors are the
/// usual JSON problems of `problems::json_config`.
pub async fn json_body<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, actix_web::Error> {
    let mut payload = payload.into_inner();
    Ok(super::object::Json::<T>::from_request(req, &mut payload)
        .await?
        .0)
}
