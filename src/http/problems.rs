//! Turning every kind of HTTP failure into RFC 9457 problem+json: extractor errors, unknown
//! routes, wrong methods, and (as a safety net) any error response that slipped through
//! without a problem body.

use crate::error::{ApiError, PROBLEM_JSON, ProblemKind};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, req| json_error(err, limit, Audience::of(req)).into())
}

/// Who reads a problem's `detail`: citizens (Italian) or staff and developers (English).
///
/// The language policy of problem details (issue 19): the route decides, never a header.
/// Routes a citizen's frontend calls (and anything unknown) answer in Italian; the operator,
/// admin and service APIs in English. Within one `detail` there is one language: what a
/// parser says in English (serde, actix) is rendered in Italian for citizens, never quoted.
/// `title` is the type's fixed English name (RFC 9457: it does not change between
/// occurrences). OAuth error responses (`error_description`, RFC 6749 §5.2: US-ASCII) are
/// English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Citizen,
    Staff,
}

impl Audience {
    /// Operator, admin and service (access check) APIs are staff-facing; everything else may
    /// be shown to a citizen.
    pub fn of(req: &HttpRequest) -> Self {
        let path = req.path();
        if path.starts_with("/v1/operator")
            || path.starts_with("/v1/admin")
            || path.starts_with("/v1/access/")
        {
            Audience::Staff
        } else {
            Audience::Citizen
        }
    }

    /// The text for this audience: Italian for citizens, English for staff.
    pub(crate) fn pick(self, italian: impl Into<String>, english: impl Into<String>) -> String {
        match self {
            Audience::Citizen => italian.into(),
            Audience::Staff => english.into(),
        }
    }
}

/// Parses a codice fiscale from a request body, or the `invalid-codice-fiscale` problem in the
/// audience's language; `field` names the member when the body has more than one.
pub(crate) fn parse_codice_fiscale(
    value: &str,
    field: Option<&str>,
    audience: Audience,
) -> Result<crate::person::CodiceFiscale, ApiError> {
    crate::person::CodiceFiscale::parse(value)
        .map_err(|e| invalid_codice_fiscale(&e, field, audience))
}

/// The `invalid-codice-fiscale` problem for `e` (see [`parse_codice_fiscale`]).
pub(crate) fn invalid_codice_fiscale(
    e: &crate::person::CodiceFiscaleError,
    field: Option<&str>,
    audience: Audience,
) -> ApiError {
    let detail = match field {
        None => audience.pick(
            format!("Codice fiscale non valido: {e}."),
            format!("Invalid codice fiscale: {e}."),
        ),
        Some(f) => audience.pick(
            format!("Codice fiscale non valido ({f}): {e}."),
            format!("Invalid codice fiscale ({f}): {e}."),
        ),
    };
    let ext = match field {
        None => serde_json::json!({ "reason": e.reason() }),
        Some(f) => serde_json::json!({ "reason": e.reason(), "field": f }),
    };
    ApiError::new(ProblemKind::InvalidCodiceFiscale, detail).with_extensions(ext)
}

fn json_error(err: JsonPayloadError, limit: usize, to: Audience) -> ApiError {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::new(
                ProblemKind::PayloadTooLarge,
                to.pick(
                    format!("La richiesta supera la dimensione massima di {limit} byte."),
                    format!("The request body is larger than the {limit} bytes accepted."),
                ),
            )
        }
        JsonPayloadError::ContentType => ApiError::new(
            ProblemKind::UnsupportedMediaType,
            to.pick(
                "I dati vanno inviati in formato JSON (application/json).",
                "Send the request body as application/json.",
            ),
        ),
        // Well-formed JSON of the wrong shape (a field missing or of the wrong type).
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            ProblemKind::ValidationFailed,
            to.pick(
                format!(
                    "I dati inviati non hanno i campi attesi: {} ({}).",
                    italian_shape_error(&e),
                    italian_position(&e)
                ),
                format!("The JSON body does not have the expected fields: {e}."),
            ),
        ),
        JsonPayloadError::Deserialize(e) => ApiError::new(
            ProblemKind::MalformedJson,
            to.pick(
                format!(
                    "I dati inviati non sono JSON valido ({}).",
                    italian_position(&e)
                ),
                format!("The request body is not valid JSON: {e}."),
            ),
        ),
        other => ApiError::new(
            ProblemKind::MalformedJson,
            to.pick(
                "Non è stato possibile leggere i dati inviati.".to_owned(),
                format!("The request body could not be read: {other}."),
            ),
        ),
    }
}

/// The problem for a JSON body [`super::object::read_body`] refused.
pub fn body_problem(err: super::object::BodyError, limit: usize, req: &HttpRequest) -> ApiError {
    let to = Audience::of(req);
    match err {
        super::object::BodyError::Json(e) => json_error(e, limit, to),
        super::object::BodyError::TooDeep(at) => {
            let max = super::json_depth::MAX_DEPTH;
            ApiError::new(
                ProblemKind::ValidationFailed,
                to.pick(
                    format!(
                        "I dati inviati sono annidati oltre {max} livelli (byte {at}): invia un oggetto JSON con i campi attesi."
                    ),
                    format!(
                        "The JSON body nests deeper than {max} levels (at byte {at}); send an object with the expected fields."
                    ),
                ),
            )
        }
    }
}

/// Where serde stopped reading, in Italian.
fn italian_position(e: &serde_json::Error) -> String {
    format!("riga {}, colonna {}", e.line(), e.column())
}

/// What serde found wrong with well-formed JSON, in Italian: the field it names is kept,
/// its English sentence is not.
fn italian_shape_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let quoted = message
        .split('`')
        .nth(1)
        .map(|name| name.chars().take(64).collect::<String>());
    let name = quoted.unwrap_or_default();
    if message.contains(&format!("expected {}", super::object::EXPECTED)) {
        "il corpo della richiesta deve essere un oggetto JSON ({…})".to_owned()
    } else if message.starts_with("missing field") {
        format!("manca il campo `{name}`")
    } else if message.starts_with("unknown field") {
        format!("il campo `{name}` non è previsto")
    } else if message.starts_with("duplicate field") {
        format!("il campo `{name}` compare più di una volta")
    } else if message.starts_with("unknown variant") {
        format!("il valore `{name}` non è tra quelli ammessi")
    } else if message.starts_with("invalid type") {
        "un valore è di tipo diverso da quello atteso".to_owned()
    } else if message.starts_with("invalid length") {
        "un elenco ha un numero di elementi diverso da quello atteso".to_owned()
    } else {
        "un valore non è ammesso".to_owned()
    }
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, req| {
        ApiError::new(
            ProblemKind::InvalidPath,
            Audience::of(req).pick(
                "Un parametro dell'indirizzo non è valido.".to_owned(),
                format!("Invalid path parameter: {err}."),
            ),
        )
        .into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, req| {
        ApiError::new(
            ProblemKind::InvalidQuery,
            Audience::of(req).pick(
                "I parametri dell'indirizzo (dopo il ?) non sono validi.".to_owned(),
                format!("Invalid query string: {err}."),
            ),
        )
        .into()
    })
}

/// The application's state, for the HTML answers (always present in a running app).
fn state_of(req: &HttpRequest) -> Option<web::Data<crate::AppState>> {
    req.app_data::<web::Data<crate::AppState>>().cloned()
}

/// No route: a page for a browser navigation outside the APIs, a problem otherwise.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if crate::web::errors::wants_page(&req)
        && let Some(state) = state_of(&req)
    {
        return Ok(crate::web::errors::not_found_page(&state));
    }
    let path: String = req.path().chars().take(200).collect();
    Err(ApiError::not_found(Audience::of(&req).pick(
        format!("Non c'è nessuna risorsa all'indirizzo {path}."),
        format!("No resource at {path}."),
    )))
}

/// A method the resource does not take: a page for a browser navigation outside the APIs
/// (e.g. reloading the address a form posted to), a problem with `Allow` otherwise.
pub async fn method_not_allowed(
    req: HttpRequest,
    allowed: &'static [&'static str],
) -> Result<HttpResponse, ApiError> {
    // GET resources answer HEAD as well (see `http::route_for`).
    let allow = allowed
        .iter()
        .flat_map(|m| {
            if *m == "GET" {
                vec!["GET", "HEAD"]
            } else {
                vec![*m]
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    if crate::web::errors::wants_page(&req)
        && let Some(state) = state_of(&req)
    {
        return Ok(crate::web::errors::wrong_method_page(&state, &req, &allow));
    }
    let mut e = ApiError::new(
        ProblemKind::MethodNotAllowed,
        Audience::of(&req).pick(
            format!("Questo indirizzo accetta solo le richieste {allow}."),
            format!("This resource accepts only {allow}."),
        ),
    );
    e.allow = Some(allow.into_boxed_str());
    Err(e)
}

/// The last line of defence: any error response without a problem body gets one.
pub fn safety_net<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Problems, and the bodies handlers chose on purpose: OAuth JSON errors (RFC 6749
    // §5.2) and the HTML pages people see. Anything else is actix's own plain text.
    let intended = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(PROBLEM_JSON.as_bytes())
            || v.starts_with(b"application/json")
            || v.starts_with(b"text/html")
    });
    if intended {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let to = Audience::of(res.request());
    let replacement = match status {
        StatusCode::NOT_FOUND => ApiError::not_found(to.pick(
            "Non c'è nessuna risorsa a questo indirizzo.",
            "No such resource.",
        ))
        .error_response(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            ProblemKind::PayloadTooLarge,
            to.pick(
                "La richiesta è troppo grande.",
                "The request body is too large.",
            ),
        )
        .error_response(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            ProblemKind::UnsupportedMediaType,
            to.pick(
                "Il formato dei dati inviati non è accettato.",
                "Unsupported content type.",
            ),
        )
        .error_response(),
        s if s.is_server_error() => {
            ApiError::internal(format!("{s} response without a problem body")).error_response()
        }
        s => blank_problem(s),
    };
    let (req, _) = res.into_parts();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, replacement).map_into_right_body(),
    ))
}

/// RFC 9457 `about:blank`: nothing to say beyond the status itself.
fn blank_problem(status: StatusCode) -> HttpResponse {
    let title = status.canonical_reason().unwrap_or("Error");
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
        .body(
            serde_json::json!({
                "type": "about:blank",
                "title": title,
                "status": status.as_u16(),
                "detail": title,
            })
            .to_string(),
        )
}
