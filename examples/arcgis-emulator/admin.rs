//! The Administrator API under `/arcgis/admin`: routing, the token check
//! and generateToken, and each resource and operation.
//!
//! Operations the docs mark "(POST only)" refuse GET: generateToken,
//! createFolder, createService, deleteFolder, edit, delete, start, stop,
//! security/tokens/update and mode/update (each page's header, e.g.
//! <https://developers.arcgis.com/rest/enterprise-administration/server/generatetoken.htm>).
//! Resources answer GET and POST alike.

use axum::http::Method;
use serde_json::{Value, json};

use crate::model::{ApiError, NewIds, Site};
use crate::params::decode_component;
use crate::reply::Reply;
use crate::routes::{Call, Server, current_version_text, persist_or_undo};
use crate::tokens::{self, Binding, Claims, TokenError};

/// A service operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceOp {
    Status,
    Start,
    Stop,
    Edit,
    Delete,
}

/// Where an admin path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    SiteRoot,
    GenerateToken,
    Info,
    Mode,
    ModeUpdate,
    Tokens,
    TokensUpdate,
    Services,
    CreateFolder,
    CreateService(Option<String>),
    Folder(String),
    DeleteFolder(String),
    Service {
        folder: Option<String>,
        key: String,
        op: Option<ServiceOp>,
    },
    Unknown(String),
}

impl ServiceOp {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "status" => Self::Status,
            "start" => Self::Start,
            "stop" => Self::Stop,
            "edit" => Self::Edit,
            "delete" => Self::Delete,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Edit => "edit",
            Self::Delete => "delete",
        }
    }
}

/// The route of `sub`, the path after `/arcgis/admin`. A segment holding a
/// dot is a service (`name.type`); folder names cannot hold one.
pub fn parse_route(sub: &str) -> Route {
    let segs: Vec<String> = sub
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| decode_component(s, false))
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let svc = |folder: Option<&str>, key: &str, op: Option<&str>| match op {
        None => Route::Service {
            folder: folder.map(str::to_string),
            key: key.to_string(),
            op: None,
        },
        Some(o) => match ServiceOp::parse(o) {
            Some(op) => Route::Service {
                folder: folder.map(str::to_string),
                key: key.to_string(),
                op: Some(op),
            },
            None => Route::Unknown(o.to_string()),
        },
    };
    match s.as_slice() {
        [] => Route::SiteRoot,
        ["generateToken"] => Route::GenerateToken,
        ["info"] => Route::Info,
        ["mode"] => Route::Mode,
        ["mode", "update"] => Route::ModeUpdate,
        ["security", "tokens"] => Route::Tokens,
        ["security", "tokens", "update"] => Route::TokensUpdate,
        ["services"] => Route::Services,
        ["services", "createFolder"] => Route::CreateFolder,
        ["services", "createService"] => Route::CreateService(None),
        ["services", x] if x.contains('.') => svc(None, x, None),
        ["services", f] => Route::Folder(f.to_string()),
        ["services", x, op] if x.contains('.') => svc(None, x, Some(op)),
        ["services", f, "createService"] => Route::CreateService(Some(f.to_string())),
        ["services", f, "deleteFolder"] => Route::DeleteFolder(f.to_string()),
        ["services", f, x] if x.contains('.') => svc(Some(f), x, None),
        ["services", f, x, op] if !f.contains('.') && x.contains('.') => svc(Some(f), x, Some(op)),
        [.., last] => Route::Unknown(last.to_string()),
    }
}

impl Route {
    /// The request log's `operation`: the operation's name, or the kind of
    /// resource read.
    pub fn operation(&self) -> String {
        match self {
            Self::SiteRoot => "site".into(),
            Self::GenerateToken => "generateToken".into(),
            Self::Info => "info".into(),
            Self::Mode => "mode".into(),
            Self::ModeUpdate | Self::TokensUpdate => "update".into(),
            Self::Tokens => "tokens".into(),
            Self::Services => "services".into(),
            Self::CreateFolder => "createFolder".into(),
            Self::CreateService(_) => "createService".into(),
            Self::Folder(_) => "folder".into(),
            Self::DeleteFolder(_) => "deleteFolder".into(),
            Self::Service { op: None, .. } => "service".into(),
            Self::Service { op: Some(op), .. } => op.name().into(),
            Self::Unknown(seg) => seg.chars().take(100).collect(),
        }
    }

    fn post_only(&self) -> bool {
        matches!(
            self,
            Self::GenerateToken
                | Self::ModeUpdate
                | Self::TokensUpdate
                | Self::CreateFolder
                | Self::CreateService(_)
                | Self::DeleteFolder(_)
                | Self::Service {
                    op: Some(
                        ServiceOp::Start | ServiceOp::Stop | ServiceOp::Edit | ServiceOp::Delete
                    ),
                    ..
                }
        )
    }
}

/// The token of a call: the `token` parameter, else the
/// `X-Esri-Authorization: Bearer <token>` header.
pub fn token_of(call: &Call) -> Option<String> {
    if let Some(t) = call.params.non_empty("token") {
        return Some(t.trim().to_string());
    }
    let h = call
        .headers
        .get("x-esri-authorization")?
        .to_str()
        .ok()?
        .trim();
    let (scheme, t) = h.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty()).then(|| t.trim().to_string())
}

/// Check the call's token against the site's shared key, the time and the
/// token's client binding. Texts: 499 and 498 as a real 10.5.1 server
/// answered them (recorded transcripts; not in the docs).
pub fn authorize(site: &Site, call: &Call) -> Result<Claims, ApiError> {
    let Some(token) = token_of(call) else {
        return Err(ApiError::new(
            499,
            "Unauthorized access. Token not found. You can generate a token using the 'generateToken' operation.",
        ));
    };
    let claims = match tokens::verify(&site.shared_key, &token, call.now_ms) {
        Ok(c) => c,
        Err(TokenError::Expired) => return Err(ApiError::new(498, "Token Expired.")),
        Err(TokenError::Invalid) => {
            return Err(ApiError::new(
                498,
                "Could not decrypt token. Token may not be valid.",
            ));
        }
    };
    let bound_ok = match &claims.binding {
        Binding::Ip(ip) => match (ip.parse::<std::net::IpAddr>(), call.peer) {
            (Ok(want), Some(peer)) => want.to_canonical() == peer.to_canonical(),
            _ => true,
        },
        Binding::Referer(r) => {
            r.is_empty()
                || call
                    .headers
                    .get("referer")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|got| got.starts_with(r.as_str()))
        }
    };
    if !bound_ok {
        return Err(ApiError::new(498, "Invalid token."));
    }
    Ok(claims)
}

/// `POST /admin/generateToken`: `username`, `password`, `client`
/// (`referer`, the documented default, `ip` or `requestip`), `referer` or
/// `ip` as the client needs, `expiration` (minutes). Answers `{"token",
/// "expires"}` with `expires` a string of unix milliseconds, as the Server
/// Administrator API documents it (`"expires": "13472658353687"`,
/// <https://resources.arcgis.com/en/help/server-admin-api/generateToken.html>
/// and generatetoken.htm). The failure wording is not documented for the
/// admin API; the emulator answers code 400 with "Unable to generate token."
/// and the reason, as ArcGIS's token services word it.
fn generate_token(server: &Server, site: &Site, call: &Call) -> Result<Value, ApiError> {
    let fail = |why: &str| ApiError {
        code: 400,
        messages: vec!["Unable to generate token.".into(), why.into()],
    };
    let (Some(user), Some(password)) = (
        call.params.non_empty("username"),
        call.params.get("password"),
    ) else {
        return Err(fail("'username' and 'password' must be specified."));
    };
    let s = &server.settings;
    if !(constant_time_eq(user.as_bytes(), s.username.as_bytes())
        & constant_time_eq(password.as_bytes(), s.password.as_bytes()))
    {
        return Err(fail("Invalid username or password."));
    }
    let client = call.params.non_empty("client").unwrap_or("referer");
    let binding = match client.trim().to_ascii_lowercase().as_str() {
        "requestip" => Binding::Ip(call.peer.map(|p| p.to_string()).unwrap_or_default()),
        "ip" => match call.params.non_empty("ip") {
            Some(ip) if ip.trim().parse::<std::net::IpAddr>().is_ok() => {
                Binding::Ip(ip.trim().to_string())
            }
            _ => {
                return Err(fail(
                    "'ip' must be specified as an IP address when client is 'ip'.",
                ));
            }
        },
        "referer" => match call.params.non_empty("referer") {
            Some(r) => Binding::Referer(r.trim().to_string()),
            None => {
                return Err(fail(
                    "'referer' must be specified when client is 'referer'.",
                ));
            }
        },
        _ => return Err(fail("'client' must be referer, ip or requestip.")),
    };
    let expiration = match call.params.non_empty("expiration") {
        None => None,
        Some(e) => Some(
            e.trim()
                .parse::<u64>()
                .map_err(|_| fail("'expiration' must be a whole number of minutes."))?,
        ),
    };
    let lifetime = tokens::lifetime_ms(
        expiration,
        site.short_timeout,
        site.long_timeout,
        s.max_token_minutes,
        s.token_seconds,
    );
    let claims = Claims {
        user: user.to_string(),
        expires: call.now_ms.saturating_add(lifetime),
        binding,
    };
    let token = tokens::issue(&site.shared_key, &claims).ok_or_else(|| fail("Internal error."))?;
    Ok(json!({"token": token, "expires": claims.expires.to_string()}))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Answer one admin call; `sub` is the path after `/arcgis/admin`.
pub async fn admin(server: &Server, call: &Call, sub: &str) -> (Reply, String) {
    let route = parse_route(sub);
    let operation = route.operation();
    if route.post_only() && call.method != Method::POST {
        let e = ApiError::new(
            405,
            "Method not supported. This operation is only supported via POST.",
        );
        return (Reply::error(e), operation);
    }
    let mut site = server.site.lock().await;
    let reply = if route == Route::GenerateToken {
        generate_token(server, &site, call).map(Reply::ok)
    } else {
        match authorize(&site, call) {
            Err(e) => Err(e),
            Ok(claims) => answer(server, &mut site, call, &route, &claims).await,
        }
    };
    let reply = reply.unwrap_or_else(Reply::error);
    (reply, operation)
}

/// A resource read or an operation, once the token is good.
async fn answer(
    server: &Server,
    site: &mut Site,
    call: &Call,
    route: &Route,
    claims: &Claims,
) -> Result<Reply, ApiError> {
    let p = &call.params;
    let version = &server.settings.version;
    let read = |v: Result<Value, ApiError>| v.map(Reply::ok);
    match route {
        Route::SiteRoot => read(Ok(json!({
            "resources": ["machines", "clusters", "system", "services", "security",
                          "data", "uploads", "logs", "mode", "usagereports"],
            "currentVersion": crate::routes::current_version(version),
            "fullVersion": version,
            "acceptLanguage": null,
        }))),
        Route::Info => read(Ok(json!({
            "currentversion": current_version_text(version),
            "currentbuild": server.settings.build,
            "timezone": {"displayname": "(UTC) Coordinated Universal Time", "windowsid": "UTC",
                         "olsonid": "Etc/UTC", "daylightsavings": false},
            "loggedInUser": claims.user,
            "loggedInUserPrivilege": "ADMINISTER",
        }))),
        Route::Mode => read(Ok(site.mode_json())),
        Route::Tokens => read(Ok(site.tokens_json())),
        Route::Services => read(Ok(site.root_json(p.boolean("detail") == Some(Ok(true))))),
        Route::Folder(f) => read(site.folder_json(f)),
        Route::Service { folder, key, op } => {
            let folder = folder.as_deref();
            match op {
                None => read(site.service_json(folder, key)),
                Some(ServiceOp::Status) => read(site.status_json(folder, key)),
                Some(ServiceOp::Start) => {
                    change(server, site, |s| s.set_started(folder, key, true)).await
                }
                Some(ServiceOp::Stop) => {
                    change(server, site, |s| s.set_started(folder, key, false)).await
                }
                Some(ServiceOp::Edit) => {
                    change(server, site, |s| {
                        s.edit_service(folder, key, p.get("service"))
                    })
                    .await
                }
                Some(ServiceOp::Delete) => {
                    change(server, site, |s| s.delete_service(folder, key)).await
                }
            }
        }
        Route::CreateFolder => {
            let description = p.get("description").unwrap_or("");
            change(server, site, |s| {
                s.create_folder(p.get("folderName").map(str::trim), description)
            })
            .await
        }
        Route::DeleteFolder(f) => change(server, site, |s| s.delete_folder(f)).await,
        Route::CreateService(f) => {
            let folder = f.as_deref();
            change(server, site, |s| {
                s.create_service(folder, p.get("service"), NewIds::random())
                    .map(|_| ())
            })
            .await
        }
        Route::TokensUpdate => {
            change(server, site, |s| {
                s.update_tokens(p.get("tokenManagerConfig")).map(|_| ())
            })
            .await
        }
        Route::ModeUpdate => {
            let flags = [
                ("runAsync", p.boolean("runAsync")),
                (
                    "allowEditingViaServices",
                    p.boolean("allowEditingViaServices"),
                ),
            ];
            let now = call.now_ms;
            change(server, site, |s| {
                s.update_mode(p.get("siteMode"), &flags, now)
            })
            .await
        }
        Route::GenerateToken => Err(ApiError::new(
            500,
            "generateToken is answered before the token check.",
        )),
        Route::Unknown(seg) => {
            let shown: String = seg.chars().take(100).collect();
            Err(ApiError::new(
                404,
                format!("Could not find resource or operation '{shown}' on the system."),
            ))
        }
    }
}

/// Apply a change, persist it (undoing it when that fails), answer success.
async fn change(
    server: &Server,
    site: &mut Site,
    f: impl FnOnce(&mut Site) -> Result<(), ApiError>,
) -> Result<Reply, ApiError> {
    let before = site.clone();
    f(site)?;
    persist_or_undo(server, site, before).await?;
    Ok(Reply::success())
}
