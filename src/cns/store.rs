//! The CNS rows: tickets carrying a validated card login from the CNS host to procura's
//! host, and the OCSP answers every instance shares.

use crate::db::schema::{cns_ocsp_responses, cns_tickets};
use crate::db::{DbConn, DbError};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cns_tickets)]
pub struct Ticket {
    pub ticket_hash: String,
    pub flow_id: String,
    pub codice_fiscale: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub level: String,
    pub certificate_sha256: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub consumed_at: Option<NaiveDateTime>,
}

pub fn insert_ticket(conn: &mut DbConn, ticket: &Ticket) -> Result<(), DbError> {
    diesel::insert_into(cns_tickets::table)
        .values(ticket)
        .execute(conn)?;
    Ok(())
}

/// The live (unexpired, unspent) ticket of that hash.
pub fn find_ticket(
    conn: &mut DbConn,
    ticket_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Ticket>, DbError> {
    Ok(cns_tickets::table
        .find(ticket_hash)
        .filter(cns_tickets::consumed_at.is_null())
        .filter(cns_tickets::expires_at.gt(now.naive_utc()))
        .select(Ticket::as_select())
        .first(conn)
        .optional()?)
}

/// Spends the ticket; false when it was already spent or has expired (one UPDATE, so two
/// racing browsers cannot both spend it).
pub fn consume_ticket(
    conn: &mut DbConn,
    ticket_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = diesel::update(
        cns_tickets::table
            .find(ticket_hash)
            .filter(cns_tickets::consumed_at.is_null())
            .filter(cns_tickets::expires_at.gt(now.naive_utc())),
    )
    .set(cns_tickets::consumed_at.eq(now.naive_utc()))
    .execute(conn)?;
    Ok(n == 1)
}

/// A cached OCSP answer still to be used (it is verified again by the caller).
pub fn cached_ocsp(
    conn: &mut DbConn,
    cert_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<u8>>, DbError> {
    Ok(cns_ocsp_responses::table
        .find(cert_id)
        .filter(cns_ocsp_responses::expires_at.gt(now.naive_utc()))
        .select(cns_ocsp_responses::response)
        .first(conn)
        .optional()?)
}

/// Keeps an OCSP answer until `expires_at`, replacing an older one.
pub fn cache_ocsp(
    conn: &mut DbConn,
    cert_id: &str,
    response: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    conn.write_transaction(|c| {
        diesel::delete(cns_ocsp_responses::table.find(cert_id)).execute(c)?;
        diesel::insert_into(cns_ocsp_responses::table)
            .values((
                cns_ocsp_responses::cert_id.eq(cert_id),
                cns_ocsp_responses::response.eq(response),
                cns_ocsp_responses::fetched_at.eq(now.naive_utc()),
                cns_ocsp_responses::expires_at.eq(expires_at.naive_utc()),
            ))
            .execute(c)?;
        Ok(())
    })
}

/// Drops expired tickets and OCSP answers; returns how many rows went.
pub fn delete_expired(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, DbError> {
    let tickets =
        diesel::delete(cns_tickets::table.filter(cns_tickets::expires_at.le(now.naive_utc())))
            .execute(conn)?;
    let answers = diesel::delete(
        cns_ocsp_responses::table.filter(cns_ocsp_responses::expires_at.le(now.naive_utc())),
    )
    .execute(conn)?;
    Ok(tickets + answers)
}
