//! The CLI login (contract §6.1): the authorize-URL answer and the two query strings.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /auth/oauth/{provider}`: bare `{"authorize_url"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeUrl {
    /// Where the CLI sends the browser.
    pub authorize_url: String,
}

/// `?redirect_uri=` of `GET /auth/oauth/{provider}`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuthorizeQuery {
    /// Where the login ends: `http://127.0.0.1:<port>/<path>` (or `[::1]`), or a configured origin.
    pub redirect_uri: String,
}

/// What the provider appends to our callback. Unknown parameters are ignored: providers add their
/// own (Google sends `scope`, `authuser`, `prompt`).
#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}
