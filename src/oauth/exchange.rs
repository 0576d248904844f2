//! RFC 8693 token exchange for acting on behalf (domain §1.10, §4 item 4, §6.5, §6.8).
//!
//! The client sends the delegate's access token as `actor_token` and the delegation id as
//! `subject_token` (type [`DELEGATION_TOKEN_TYPE`]); it gets an access token whose `sub` is
//! the delegator, `act.sub` the delegate, with `delegation_id`, a narrowed scope and an expiry
//! no later than the actor token's, the delegation's end or `exchanged_token_ttl_secs`.
//!
//! The actor token's `gid` (the delegate's login grant) is carried over, so the delegated
//! token ends with the delegate's login (logout, refresh-token reuse) as well as with the
//! delegation.

use super::jwt::{self, AccessTokenClaims, Actor};
use super::params::Params;
use super::scope::{self, ScopeSet};
use super::subject;
use super::token_hash;
use crate::audit::{self, AuditKey, Event, Outcome, Party};
use crate::config::OauthConfig;
use crate::db::{DbConn, DbError};
use crate::person::CodiceFiscale;
use chrono::{DateTime, Utc};

/// RFC 8693 §3: an OAuth access token (the actor token, and the token issued).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// procura's token type for a subject token that is a delegation id.
pub const DELEGATION_TOKEN_TYPE: &str = "urn:procura:params:oauth:token-type:delegation";

/// Why an exchange is refused; each maps to an RFC 6749 / RFC 8693 error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Missing or malformed parameters, wrong token types, an unusable actor token.
    InvalidRequest(String),
    /// `audience` or `resource` names something procura does not issue tokens for.
    InvalidTarget(String),
    /// A scope the delegated token may not carry.
    InvalidScope(String),
    /// The delegation is unknown, not in force, or not the actor's (one message for all,
    /// so a client cannot probe which delegations exist).
    InvalidGrant,
}

impl Refusal {
    pub fn error_code(&self) -> &'static str {
        match self {
            Refusal::InvalidRequest(_) => "invalid_request",
            Refusal::InvalidTarget(_) => "invalid_target",
            Refusal::InvalidScope(_) => "invalid_scope",
            Refusal::InvalidGrant => "invalid_grant",
        }
    }

    pub fn description(&self) -> String {
        match self {
            Refusal::InvalidRequest(d) | Refusal::InvalidTarget(d) | Refusal::InvalidScope(d) => {
                d.clone()
            }
            Refusal::InvalidGrant => {
                "the delegation is not in force or does not let the actor act for its delegator"
                    .into()
            }
        }
    }
}

/// The checked parameters of an exchange request.
#[derive(Debug, Clone)]
pub struct ExchangeParams {
    pub delegation_id: String,
    pub actor_token: String,
    pub scope: Option<ScopeSet>,
}

/// Reads and checks the RFC 8693 §2.1 parameters; `audience` is the one audience procura's
/// access tokens have.
pub fn parse_params(params: &Params, audience: &str) -> Result<ExchangeParams, Refusal> {
    let need = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Refusal::InvalidRequest(format!("{name} is required")))
    };
    let subject_type = need("subject_token_type")?;
    if subject_type != DELEGATION_TOKEN_TYPE {
        return Err(Refusal::InvalidRequest(format!(
            "subject_token_type must be {DELEGATION_TOKEN_TYPE} (the delegation id)"
        )));
    }
    let delegation_id = need("subject_token")?.to_owned();
    let actor_type = need("actor_token_type")?;
    if actor_type != ACCESS_TOKEN_TYPE {
        return Err(Refusal::InvalidRequest(format!(
            "actor_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    let actor_token = need("actor_token")?.to_owned();
    if let Some(t) = params.get("requested_token_type")
        && t != ACCESS_TOKEN_TYPE
    {
        return Err(Refusal::InvalidRequest(format!(
            "only {ACCESS_TOKEN_TYPE} can be requested"
        )));
    }
    for name in ["audience", "resource"] {
        if let Some(v) = params.get(name)
            && v != audience
        {
            return Err(Refusal::InvalidTarget(format!(
                "procura issues delegated tokens only for the audience {audience}"
            )));
        }
    }
    Ok(ExchangeParams {
        delegation_id,
        actor_token,
        scope: params.get("scope").map(ScopeSet::parse),
    })
}

/// The scope of the delegated token: what the actor token holds, less what a delegation never
/// hands over (domain §6.5) and the delegate's own login scopes; `asked` may only narrow it.
pub fn exchanged_scope(actor: &ScopeSet, asked: Option<&ScopeSet>) -> Result<ScopeSet, Refusal> {
    let allowed = actor
        .without(scope::NOT_DELEGABLE)
        .without(scope::NOT_EXCHANGED);
    let granted = match asked {
        None => allowed,
        Some(asked) => {
            if let Some(bad) = asked.not_in(&allowed).next() {
                let why = if scope::NOT_DELEGABLE.contains(&bad) {
                    "is never handed over by a delegation"
                } else if scope::NOT_EXCHANGED.contains(&bad) {
                    "belongs to the delegate's own login"
                } else {
                    "is not held by the actor token"
                };
                return Err(Refusal::InvalidScope(format!("{bad} {why}")));
            }
            asked.clone()
        }
    };
    if granted.is_empty() {
        return Err(Refusal::InvalidScope(
            "the actor token holds no scope a delegation hands over".into(),
        ));
    }
    Ok(granted)
}

/// What the exchange needs to know about the caller.
#[derive(Debug, Clone)]
pub struct Exchange<'a> {
    pub config: &'a OauthConfig,
    pub client_id: &'a str,
    /// The verified, live actor token of a person (not itself delegated).
    pub actor: &'a AccessTokenClaims,
    pub actor_person: &'a CodiceFiscale,
    pub delegation_id: &'a str,
    pub scope: &'a ScopeSet,
    pub ttl_secs: u64,
    pub request_id: Option<String>,
}

/// Checks the delegation and builds the delegated token's claims, in one transaction with the
/// audit record (actor = delegate, subject = delegator; refusals are audited too).
pub fn exchange(
    conn: &mut DbConn,
    key: &AuditKey,
    x: &Exchange<'_>,
    now: DateTime<Utc>,
) -> Result<Result<AccessTokenClaims, Refusal>, DbError> {
    conn.write_transaction(|c| {
        let delegation = crate::delegation::find(c, x.delegation_id)?
            .filter(|d| d.is_in_force(now) && d.delegate_cf == x.actor_person.as_str());
        let actor_party = Party::person(x.actor_person);
        let with_request = |mut e: Event| {
            if let Some(id) = &x.request_id {
                e = e.request_id(id.clone());
            }
            e
        };
        let Some(delegation) = delegation else {
            let event = Event::new(actor_party, "token.exchange", Outcome::Denied).detail(
                serde_json::json!({
                    "client_id": x.client_id,
                    "delegation_id": x.delegation_id,
                }),
            );
            audit::append(c, key, now, with_request(event))?;
            return Ok(Err(Refusal::InvalidGrant));
        };
        let delegator = CodiceFiscale::parse(&delegation.delegator_cf)
            .map_err(|_| diesel::result::Error::NotFound)?;
        let sub = subject::sub_for(c, delegator.as_str(), now)?;
        let iat = now.timestamp();
        let mut exp = x
            .actor
            .exp
            .min(iat.saturating_add(i64::try_from(x.ttl_secs).unwrap_or(i64::MAX / 2)));
        if let Some(end) = delegation.ends_at {
            exp = exp.min(end.and_utc().timestamp());
        }
        let claims = AccessTokenClaims {
            iss: x.config.issuer.clone(),
            sub,
            aud: x.config.access_token_audience.clone(),
            exp,
            iat,
            jti: token_hash::new_id()?,
            client_id: x.client_id.to_owned(),
            scope: x.scope.to_string(),
            auth_time: x.actor.auth_time,
            acr: x.actor.acr.clone(),
            amr: x.actor.amr.clone(),
            fiscal_number: Some(jwt::fiscal_number(delegator.as_str())),
            sid: x.actor.sid.clone(),
            gid: x.actor.gid.clone(),
            roles: None,
            act: Some(Actor {
                sub: x.actor.sub.clone(),
                fiscal_number: jwt::fiscal_number(x.actor_person.as_str()),
            }),
            delegation_id: Some(delegation.id.clone()),
        };
        let event = Event::new(actor_party, "token.exchange", Outcome::Success)
            .on_behalf_of(Party::person(&delegator))
            .detail(serde_json::json!({
                "client_id": x.client_id,
                "delegation_id": delegation.id,
                "jti": claims.jti,
                "scope": claims.scope,
                "exp": claims.exp,
            }));
        audit::append(c, key, now, with_request(event))?;
        Ok(Ok(claims))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_is_narrowed_to_what_a_delegation_hands_over() {
        let actor = ScopeSet::parse("openid profile inps:read inps:apply delegations:write");
        assert_eq!(
            exchanged_scope(&actor, None).unwrap().to_string(),
            "inps:apply inps:read"
        );
        let asked = ScopeSet::parse("inps:read");
        assert_eq!(exchanged_scope(&actor, Some(&asked)).unwrap(), asked);
        for bad in [
            "delegations:write",
            "openid",
            "credentials:write",
            "operator",
        ] {
            let asked = ScopeSet::parse(bad);
            assert!(
                matches!(
                    exchanged_scope(&actor, Some(&asked)),
                    Err(Refusal::InvalidScope(_))
                ),
                "{bad}"
            );
        }
        let only_login = ScopeSet::parse("openid profile operator");
        assert!(exchanged_scope(&only_login, None).is_err());
    }

    #[test]
    fn parameters_are_checked() {
        let base = "grant_type=x&subject_token=d1&actor_token=a.b.c\
            &subject_token_type=urn%3Aprocura%3Aparams%3Aoauth%3Atoken-type%3Adelegation\
            &actor_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";
        let p = |extra: &str| Params::parse(&format!("{base}{extra}")).unwrap();
        let ok = parse_params(&p(""), "https://aud").unwrap();
        assert_eq!(ok.delegation_id, "d1");
        assert!(matches!(
            parse_params(&p("&audience=https://other"), "https://aud"),
            Err(Refusal::InvalidTarget(_))
        ));
        assert!(parse_params(&p("&resource=https://aud"), "https://aud").is_ok());
        assert!(matches!(
            parse_params(&p("&requested_token_type=urn:x"), "https://aud"),
            Err(Refusal::InvalidRequest(_))
        ));
        let missing = Params::parse("subject_token=d1").unwrap();
        assert!(matches!(
            parse_params(&missing, "https://aud"),
            Err(Refusal::InvalidRequest(_))
        ));
    }
}
