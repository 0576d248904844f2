//! Whether an access token already verified as a JWT is still live, asked of the database on
//! every use, in one statement: the token is not revoked itself, its grant (if it has one) is
//! neither revoked nor expired, and the delegation a token-exchange token was issued under is
//! in force and binds exactly the token's delegator and delegate.
//!
//! The statement has one shape whatever the token (absent parts are asked with an empty id,
//! which names no row, and their answer is not used), so diesel prepares it once per
//! connection and keeps it.

use super::jwt::AccessTokenClaims;
use crate::db::schema::{delegations, oauth_grants, revoked_access_tokens};
use crate::db::{DbConn, DbError};
use crate::delegation::in_force_at;
use chrono::{DateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;

/// The delegation a token names, as the token binds it.
struct Backing<'a> {
    id: &'a str,
    delegator_cf: &'a str,
    delegate_cf: &'a str,
}

/// `Err(())`: the token names a delegation but not both parties, or the parties in another
/// form than `TINIT-<codice fiscale>` (never live). `Ok(None)`: a token without delegation.
fn backing(claims: &AccessTokenClaims) -> Result<Option<Backing<'_>>, ()> {
    let Some(id) = &claims.delegation_id else {
        return if claims.act.is_none() {
            Ok(None)
        } else {
            Err(())
        };
    };
    let (Some(delegator), Some(act)) = (&claims.fiscal_number, &claims.act) else {
        return Err(());
    };
    match (
        delegator.strip_prefix("TINIT-"),
        act.fiscal_number.strip_prefix("TINIT-"),
    ) {
        (Some(delegator_cf), Some(delegate_cf)) => Ok(Some(Backing {
            id,
            delegator_cf,
            delegate_cf,
        })),
        _ => Err(()),
    }
}

/// Live: not revoked, grant live, delegation in force (see the module documentation).
pub fn access_token_is_live(
    conn: &mut DbConn,
    claims: &AccessTokenClaims,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let Ok(backing) = backing(claims) else {
        return Ok(false);
    };
    let at = now.naive_utc();
    let grant_id = claims.gid.as_deref().unwrap_or("");
    let (delegation_id, delegator_cf, delegate_cf) = backing
        .as_ref()
        .map_or(("", "", ""), |b| (b.id, b.delegator_cf, b.delegate_cf));
    let (revoked, grant_live, delegation_in_force) = diesel::select((
        exists(revoked_access_tokens::table.filter(revoked_access_tokens::jti.eq(&claims.jti))),
        exists(
            oauth_grants::table
                .filter(oauth_grants::id.eq(grant_id))
                .filter(oauth_grants::revoked_at.is_null())
                .filter(oauth_grants::expires_at.gt(at)),
        ),
        exists(
            delegations::table
                .filter(delegations::id.eq(delegation_id))
                .filter(delegations::delegator_cf.eq(delegator_cf))
                .filter(delegations::delegate_cf.eq(delegate_cf))
                .filter(in_force_at(at)),
        ),
    ))
    .get_result::<(bool, bool, bool)>(conn)?;
    Ok(!revoked
        && (claims.gid.is_none() || grant_live)
        && (backing.is_none() || delegation_in_force))
}
