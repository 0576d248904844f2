//! `procura demo`: a handful of fictitious people, clients, operators, a delegation and a
//! guardianship, loaded through the same functions the CLI and the operator API use (so the
//! audit log records all of it), for a newcomer to click through in minutes.
//!
//! Every codice fiscale is valid and matches the birth date and sex given, so the data pass
//! every check a real registration does; none belongs to a real person on purpose (the names
//! are the stock Italian examples).

use crate::AppState;
use crate::audit::Party;
use crate::db;
use crate::delegation::registry::{self as delegations, Document, DocumentKind};
use crate::delegation::{Channel, Kind};
use crate::notify::pdf;
use crate::oauth::client::{self, AuthMethod, GrantType, NewClient};
use crate::oauth::scope::ScopeSet;
use crate::operator::{self, Acting, NewOperator};
use crate::person::CodiceFiscale;
use crate::person::import::{self, ImportError};
use crate::pin::{Holder, PinType, credential};
use anyhow::Context;
use chrono::{DateTime, Utc};

/// A fictitious person of the demo.
#[derive(Debug)]
pub struct DemoPerson {
    pub codice_fiscale: &'static str,
    pub given_name: &'static str,
    pub family_name: &'static str,
    /// `YYYY-MM-DD`, as the codice fiscale says.
    pub born: &'static str,
    pub sex: &'static str,
    /// The operator role, for the operators.
    pub role: Option<&'static str>,
    /// What the person is for, in the printed table.
    pub part: &'static str,
}

const fn person(
    codice_fiscale: &'static str,
    given_name: &'static str,
    family_name: &'static str,
    born: &'static str,
    sex: &'static str,
    role: Option<&'static str>,
    part: &'static str,
) -> DemoPerson {
    DemoPerson {
        codice_fiscale,
        given_name,
        family_name,
        born,
        sex,
        role,
        part,
    }
}

/// The delegate of the demo's delegation.
pub const MARIO: usize = 0;
/// The delegator of the demo's delegation.
pub const GIULIA: usize = 1;
/// The guardian (tutore) of [`ANNA`].
pub const LUIGI: usize = 2;
/// The person under guardianship.
pub const ANNA: usize = 3;
/// The branch-desk operator who registered both.
pub const PAOLO: usize = 4;

pub const PEOPLE: [DemoPerson; 8] = [
    person(
        "RSSMRA85T10A562S",
        "Mario",
        "Rossi",
        "1985-12-10",
        "M",
        None,
        "delegate: acts for Giulia Verdi (delega di fiducia)",
    ),
    person(
        "VRDGLI40A41H501I",
        "Giulia",
        "Verdi",
        "1940-01-01",
        "F",
        None,
        "delegator: trusts Mario Rossi",
    ),
    person(
        "VRDLGU80A01H501Q",
        "Luigi",
        "Verdi",
        "1980-01-01",
        "M",
        None,
        "tutore of Anna Neri (court decree)",
    ),
    person(
        "NRENNA48E52H501F",
        "Anna",
        "Neri",
        "1948-05-12",
        "F",
        None,
        "under guardianship (tutela) of Luigi Verdi",
    ),
    person(
        "BNCPLA75C20H501J",
        "Paolo",
        "Bianchi",
        "1975-03-20",
        "M",
        Some("sportello"),
        "operator: branch desk (registered both delegations)",
    ),
    person(
        "RSSSRA82L45H501W",
        "Sara",
        "Russo",
        "1982-07-05",
        "F",
        Some("contact_center"),
        "operator: contact centre",
    ),
    person(
        "GLLLNE90P54H501T",
        "Elena",
        "Gallo",
        "1990-09-14",
        "F",
        Some("web_meeting"),
        "operator: web-meeting desk",
    ),
    person(
        "CNTMRC70S30H501D",
        "Marco",
        "Conti",
        "1970-11-30",
        "M",
        Some("admin"),
        "operator: admin (manages operators)",
    ),
];

/// The public client (a browser frontend, PKCE).
pub const PUBLIC_CLIENT: &str = "myinps-demo";
pub const PUBLIC_REDIRECT_URI: &str = "http://127.0.0.1:3000/callback";
/// The confidential client (a downstream service asking access checks).
pub const SERVICE_CLIENT: &str = "pensioni-demo";

/// What the demo loaded that is shown only once.
pub struct Loaded {
    /// Each person's initial PIN, in the order of [`PEOPLE`].
    pub initial_pins: Vec<String>,
    /// The confidential client's secret.
    pub service_secret: String,
}

fn code(p: &DemoPerson) -> anyhow::Result<CodiceFiscale> {
    CodiceFiscale::parse(p.codice_fiscale).map_err(|e| anyhow::anyhow!("{}: {e}", p.codice_fiscale))
}

/// The persons registry rows of the demo, as `persons import` reads them.
pub fn persons_csv() -> String {
    let mut csv = String::from(
        "codice_fiscale,cognome,nome,data_nascita,sesso,indirizzo,cap,comune,provincia\n",
    );
    for (i, p) in PEOPLE.iter().enumerate() {
        csv.push_str(&format!(
            "{},{},{},{},{},Via dell'Esempio {},00144,Roma,RM\n",
            p.codice_fiscale,
            p.family_name,
            p.given_name,
            p.born,
            p.sex,
            i + 1
        ));
    }
    csv
}

/// A one-page PDF saying what document it stands for: the desk registrations need their
/// evidence, and the demo has none but these.
fn stand_in(kind: DocumentKind, max: usize) -> anyhow::Result<Document> {
    let mut page = pdf::Page::default();
    page.text(
        20.0,
        30.0,
        pdf::Font::Bold,
        14.0,
        "procura demo: documento fittizio",
    );
    page.text(20.0, 40.0, pdf::Font::Regular, 11.0, kind.as_str());
    let bytes = pdf::document(&[page], "procura demo");
    delegations::check_document(kind, bytes, max).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Loads everything, refusing a database where the demo already is.
pub async fn load(state: &AppState, actor: Party, now: DateTime<Utc>) -> anyhow::Result<Loaded> {
    let found = db::run(&state.db, |c| client::find(c, SERVICE_CLIENT)).await?;
    if found.is_some() {
        anyhow::bail!(
            "the demo is already loaded in this database (client `{SERVICE_CLIENT}` exists) and \
             its PINs were shown when it was; to start again, use a new database, e.g. \
             PROCURA_DATABASE__URL=sqlite://data/demo.db, or remove data/procura.db"
        );
    }

    let (s, a) = (state.clone(), actor.clone());
    db::run(&state.db, move |c| -> anyhow::Result<()> {
        match import::import_csv(
            c,
            &s.audit_key,
            persons_csv().as_bytes(),
            "procura demo",
            a,
            now,
        ) {
            Ok(_) => Ok(()),
            Err(ImportError::Rejected(r)) => {
                let errors: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
                anyhow::bail!("demo persons refused: {}", errors.join("; "))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await?;

    let mut initial_pins = Vec::with_capacity(PEOPLE.len());
    for p in &PEOPLE {
        let pin = crate::pin::new_initial_pin()?;
        credential::set_credential(
            &state.db,
            &state.hasher,
            &state.audit_key,
            &state.config.pin,
            &code(p)?,
            &pin,
            PinType::Dispositivo,
            Holder::Cittadino,
            true,
            actor.clone(),
            now,
        )
        .await
        .with_context(|| format!("PIN of {} {}", p.given_name, p.family_name))?;
        initial_pins.push(pin);
    }

    let (s, a) = (state.clone(), actor.clone());
    let service_secret = db::run(&state.db, move |c| -> anyhow::Result<String> {
        register_clients_operators_and_delegations(c, &s, a, now)
    })
    .await?;
    Ok(Loaded {
        initial_pins,
        service_secret,
    })
}

fn register_clients_operators_and_delegations(
    c: &mut db::DbConn,
    state: &AppState,
    actor: Party,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let key = &state.audit_key;
    client::register(
        c,
        key,
        NewClient {
            client_id: PUBLIC_CLIENT.into(),
            display_name: "MyINPS (demo)".into(),
            auth_method: AuthMethod::None,
            redirect_uris: vec![PUBLIC_REDIRECT_URI.into()],
            post_logout_redirect_uris: vec!["http://127.0.0.1:3000/".into()],
            scopes: ScopeSet::parse(
                "openid profile inps:read inps:apply delegations:read delegations:write",
            ),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            jwks: None,
        },
        actor.clone(),
        now,
    )?;
    let service = client::register(
        c,
        key,
        NewClient {
            client_id: SERVICE_CLIENT.into(),
            display_name: "Servizio pensioni (demo)".into(),
            auth_method: AuthMethod::ClientSecretBasic,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            scopes: ScopeSet::parse("inps:read access:check"),
            grant_types: vec![GrantType::ClientCredentials],
            jwks: None,
        },
        actor.clone(),
        now,
    )?;
    let secret = service
        .secret
        .context("a client_secret_basic client has a secret")?;

    let acting = Acting::new(actor);
    let mut desk_operator = None;
    for (i, p) in PEOPLE.iter().enumerate() {
        let Some(role) = p.role else { continue };
        let added = operator::add(
            c,
            key,
            &NewOperator {
                codice_fiscale: p.codice_fiscale.into(),
                display_name: format!("{} {}", p.given_name, p.family_name),
                roles: vec![role.into()],
                office: Some("Roma Centro".into()),
            },
            &acting,
            now,
        )
        .map_err(|e| anyhow::anyhow!("operator {}: {e}", p.given_name))?;
        if i == PAOLO {
            desk_operator = Some(added.id);
        }
    }
    let desk_operator = desk_operator.context("the demo has a desk operator")?;

    let max = state.config.delegation.document_max_bytes;
    let fiducia = delegations::OperatorRegistration {
        channel: Channel::SportelloAa08,
        kind: Kind::Fiducia,
        delegator: code(&PEOPLE[GIULIA])?,
        delegate: code(&PEOPLE[MARIO])?,
        ends_on: None,
        decree_reference: None,
        documents: vec![
            stand_in(DocumentKind::Aa08, max)?,
            stand_in(DocumentKind::DelegatorIdDocument, max)?,
        ],
        recording_consented: false,
    };
    delegations::register_by_operator(c, state, &desk_operator, fiducia, now)
        .map_err(|e| anyhow::anyhow!("the demo delegation: {e}"))?;
    let tutela = delegations::OperatorRegistration {
        channel: Channel::SportelloAa10,
        kind: Kind::Tutore,
        delegator: code(&PEOPLE[ANNA])?,
        delegate: code(&PEOPLE[LUIGI])?,
        ends_on: None,
        decree_reference: Some("Tribunale di Roma, R.G. 1234/2026 (fittizio)".into()),
        documents: vec![
            stand_in(DocumentKind::Aa10, max)?,
            stand_in(DocumentKind::DelegatorIdDocument, max)?,
            stand_in(DocumentKind::DelegateIdDocument, max)?,
            stand_in(DocumentKind::Decree, max)?,
        ],
        recording_consented: false,
    };
    delegations::register_by_operator(c, state, &desk_operator, tutela, now)
        .map_err(|e| anyhow::anyhow!("the demo guardianship: {e}"))?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_codice_fiscale_is_valid_and_matches_its_person() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
        for p in &PEOPLE {
            let cf = code(p).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                cf.birth_date(today).to_string(),
                p.born,
                "{}",
                p.codice_fiscale
            );
            let male = matches!(cf.sex(), crate::person::Sex::Male);
            assert_eq!(male, p.sex == "M", "{}", p.codice_fiscale);
        }
    }
}
