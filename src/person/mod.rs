//! People: the codice fiscale and the institute's persons registry (the archive that
//! later features check requests against), with its CSV import.

pub mod codice_fiscale;
pub mod contact;
pub mod import;
pub mod registry;

pub use codice_fiscale::{CodiceFiscale, CodiceFiscaleError, Sex};
pub use registry::Person;
