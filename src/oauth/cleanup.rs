//! Forgetting what can no longer matter: expired login flows, sessions, grants (with their
//! codes and refresh tokens), revoked-token entries and client-assertion ids. Run
//! periodically by `serve`; every check also filters on expiry, so a late purge is harmless.

use crate::db::schema::{
    browser_sessions, client_assertion_jtis, login_flows, oauth_grants, revoked_access_tokens,
};
use crate::db::{DbConn, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

/// Deletes expired rows; returns how many.
pub fn purge_expired(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, DbError> {
    let now = now.naive_utc();
    conn.write_transaction(|c| {
        let mut n = diesel::delete(login_flows::table.filter(login_flows::expires_at.le(now)))
            .execute(c)?;
        // Grants first: codes and refresh tokens go with them (ON DELETE CASCADE).
        n += diesel::delete(oauth_grants::table.filter(oauth_grants::expires_at.le(now)))
            .execute(c)?;
        n += diesel::delete(
            browser_sessions::table.filter(
                browser_sessions::expires_at
                    .le(now)
                    .or(browser_sessions::ended_at.is_not_null()),
            ),
        )
        .execute(c)?;
        n += diesel::delete(
            revoked_access_tokens::table.filter(revoked_access_tokens::expires_at.le(now)),
        )
        .execute(c)?;
        n += diesel::delete(
            client_assertion_jtis::table.filter(client_assertion_jtis::expires_at.le(now)),
        )
        .execute(c)?;
        Ok(n)
    })
}
