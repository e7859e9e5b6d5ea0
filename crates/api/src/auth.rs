//! Who is calling and what their key may do.
//!
//! Keys arrive as `Authorization: Bearer <key>`, as HTTP Basic with the key as user
//! name, or, from browsers, as `key=pk_…` in the form body. Only the keyed hash of a
//! presented key is looked up. An unknown or revoked key is a 401 that names the key
//! only by its last four characters.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use base64::Engine;
use tessera_core::ApiError;
use tessera_crypto::api_key::{self, KeyKind};
use tessera_store::{Scope, Tx};
use zeroize::Zeroizing;

use crate::app::App;
use crate::form::Params;
use crate::pipeline::Failure;
use crate::routes::Call;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// Account and mode of the key.
    pub scope: Scope,
    /// What kind of key it is.
    pub kind: KeyKind,
    /// Restricted keys: resource → `read` | `write`.
    permissions: BTreeMap<String, String>,
    /// The key as it may be shown (`sk_test_****abcd`).
    redacted: String,
    /// The key's keyed hash: what its rate-limit bucket is kept under.
    pub key_hash: [u8; 32],
}

fn presented_key(
    headers: &HeaderMap,
    params: &mut Params,
) -> Result<Option<Zeroizing<String>>, ApiError> {
    let body_key = params.string("key")?.map(Zeroizing::new);
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(body_key);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::authentication("The Authorization header is not valid text."))?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Ok(Some(Zeroizing::new(token.trim().to_owned())));
    }
    if let Some(basic) = value.strip_prefix("Basic ") {
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(basic.trim())
                .map_err(|_| {
                    ApiError::authentication(
                        "The Authorization header's Basic credentials are not valid base64.",
                    )
                })?,
        );
        let text = std::str::from_utf8(&decoded).map_err(|_| {
            ApiError::authentication(
                "The Authorization header's Basic credentials are not valid text.",
            )
        })?;
        let user = text.split(':').next().unwrap_or_default();
        return Ok(Some(Zeroizing::new(user.to_owned())));
    }
    Err(ApiError::authentication(
        "Invalid Authorization header: use 'Bearer <your API key>' or HTTP Basic with the key as user name.",
    ))
}

/// Finds the caller's key. Runs inside the request's blocking section.
pub(crate) fn authenticate(
    app: &App,
    tx: &Tx<'_>,
    headers: &HeaderMap,
    params: &mut Params,
) -> Result<Caller, Failure> {
    let Some(key) = presented_key(headers, params)? else {
        return Err(ApiError::authentication(
            "You did not provide an API key. Provide it in the Authorization header as 'Bearer sk_test_…', or as key= for publishable keys from a browser.",
        )
        .into());
    };
    let invalid = || {
        ApiError::authentication(format!(
            "Invalid API Key provided: {}",
            api_key::redacted(&key)
        ))
    };
    let Some((kind, livemode)) = api_key::parse_prefix(&key) else {
        return Err(invalid().into());
    };
    let hash = api_key::hash(&app.key_hash_key, &key);
    let record = tx.find_api_key(&hash)?;
    // The lookup is by keyed hash; the stored hash equals the computed one by
    // construction, so no secret is compared with a timing-dependent comparison.
    let Some(record) =
        record.filter(|r| !r.revoked && r.kind == kind.as_str() && r.livemode == livemode)
    else {
        return Err(invalid().into());
    };
    let permissions = record
        .permissions
        .as_deref()
        .and_then(|p| serde_json::from_str::<BTreeMap<String, String>>(p).ok())
        .unwrap_or_default();
    Ok(Caller {
        scope: Scope {
            account: record.account,
            livemode,
        },
        kind,
        permissions,
        redacted: api_key::redacted(&key),
        key_hash: hash,
    })
}

impl Caller {
    /// Checks that the key may make `call`.
    pub(crate) fn authorize(&self, call: &Call) -> Result<(), ApiError> {
        match self.kind {
            KeyKind::Secret => Ok(()),
            KeyKind::Publishable if call.allowed_for_publishable_key() => Ok(()),
            KeyKind::Publishable => Err(ApiError::permission(
                "This API call cannot be made with a publishable API key. Use a secret API key from your server.",
            )),
            KeyKind::Restricted => {
                let granted = self.permissions.get(call.resource()).map(String::as_str);
                let ok = match granted {
                    Some("write") => true,
                    Some("read") => !call.writes(),
                    _ => false,
                };
                if ok {
                    Ok(())
                } else {
                    Err(ApiError::permission(format!(
                        "The provided key '{}' does not have the required permission ({} {}) for this endpoint.",
                        self.redacted,
                        call.resource(),
                        if call.writes() { "write" } else { "read" }
                    )))
                }
            }
        }
    }

    /// Whether this is a publishable (browser) key.
    pub(crate) fn is_publishable(&self) -> bool {
        self.kind == KeyKind::Publishable
    }
}

impl Caller {
    /// The shopper answering a 3-D Secure challenge: acts on one intent of `scope`
    /// through a link Tessera handed out, with no API key.
    /// The installation's operator, acting on an account from the command line (which
    /// holds the data directory and master key, so no API key adds anything).
    pub(crate) fn operator(scope: Scope) -> Caller {
        Caller {
            scope,
            kind: KeyKind::Secret,
            permissions: BTreeMap::new(),
            redacted: "(operator)".to_owned(),
            key_hash: [0; 32],
        }
    }

    pub(crate) fn shopper(scope: Scope) -> Caller {
        Caller {
            scope,
            kind: KeyKind::Publishable,
            permissions: BTreeMap::new(),
            redacted: "(shopper)".to_owned(),
            key_hash: [0; 32],
        }
    }
}
