//! The PIN login method: codice fiscale + PIN, yielding a [`LoginOutcome`] at level
//! `pin-ordinario` or `pin-dispositivo` (the PIN's type), or the step the person must take
//! first (a forced change), or a refusal. The credential itself lives in [`crate::pin`].

use super::{AuthenticatedPerson, Level, LoginOutcome, Method};
use crate::AppState;
use crate::db;
use crate::person::codice_fiscale::CodiceFiscale;
use crate::person::registry;
use crate::pin::PinType;
use crate::pin::credential::{self, ChangeReason, PinError, PinLogin};
use chrono::{DateTime, Utc};

/// The level a login with a PIN of this type reaches.
pub fn level(pin_type: PinType) -> Level {
    match pin_type {
        PinType::Ordinario => Level::PinOrdinario,
        PinType::Dispositivo => Level::PinDispositivo,
    }
}

/// The strongest level a PIN login can reach: whether to offer the PIN at all.
pub const MAX_LEVEL: Level = Level::PinDispositivo;

#[derive(Debug)]
pub enum PinStep {
    Complete(LoginOutcome),
    /// The PIN was right but must be replaced before the login completes.
    MustChange(ChangeReason),
    Refused(PinLogin),
}

/// Checks the PIN of `codice_fiscale`.
pub async fn login(
    state: &AppState,
    codice_fiscale: &CodiceFiscale,
    pin: &str,
    now: DateTime<Utc>,
) -> Result<PinStep, PinError> {
    let result = credential::authenticate(
        &state.db,
        &state.hasher,
        &state.audit_key,
        &state.config.pin,
        codice_fiscale.as_str(),
        pin,
        now,
    )
    .await?;
    match result {
        PinLogin::Verified {
            change_required: Some(reason),
            ..
        } => Ok(PinStep::MustChange(reason)),
        PinLogin::Verified {
            pin_type,
            change_required: None,
        } => Ok(PinStep::Complete(
            outcome(state, codice_fiscale.clone(), pin_type).await?,
        )),
        other => Ok(PinStep::Refused(other)),
    }
}

/// Sets the person's new PIN after a verified login that required it; the login completes.
pub async fn change_and_complete(
    state: &AppState,
    codice_fiscale: &CodiceFiscale,
    new_pin: &str,
    now: DateTime<Utc>,
) -> Result<LoginOutcome, PinError> {
    credential::change_pin(
        &state.db,
        &state.hasher,
        &state.audit_key,
        &state.config.pin,
        codice_fiscale,
        new_pin,
        now,
    )
    .await?;
    let cf = codice_fiscale.as_str().to_owned();
    let pin_type = db::run(&state.db, move |c| credential::pin_type(c, &cf))
        .await?
        .ok_or(PinError::NoCredential)?;
    outcome(state, codice_fiscale.clone(), pin_type).await
}

/// A PIN holder is in the persons registry, which provides the names.
async fn outcome(
    state: &AppState,
    codice_fiscale: CodiceFiscale,
    pin_type: PinType,
) -> Result<LoginOutcome, PinError> {
    let cf = codice_fiscale.as_str().to_owned();
    let person = db::run(&state.db, move |c| registry::find(c, &cf)).await?;
    Ok(LoginOutcome {
        person: AuthenticatedPerson {
            codice_fiscale,
            given_name: person.as_ref().map(|p| p.given_name.clone()),
            family_name: person.map(|p| p.family_name),
        },
        method: Method::Pin,
        level: level(pin_type),
    })
}
