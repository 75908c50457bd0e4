//! `[redirect]`: where a browser is sent after a form post, and the checks that keep those
//! settings from sending it anywhere else.

use serde::Deserialize;

/// The `[redirect]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    /// Hosts a form's `Origin` may name for its thank-you page, as `host[:port]`.
    #[serde(default, deserialize_with = "super::values::allowed_hosts")]
    pub allowed_hosts: Vec<String>,
    /// The thank-you page's path on the form's own site.
    #[serde(
        default = "super::values::default_thank_you_path",
        deserialize_with = "super::values::thank_you_path"
    )]
    pub thank_you_path: String,
    /// Where a browser goes when no other page fits.
    #[serde(
        default = "super::values::default_thank_you_path",
        deserialize_with = "super::values::fallback_url"
    )]
    pub fallback_url: String,
}

impl Default for RedirectConfig {
    fn default() -> Self {
        RedirectConfig {
            allowed_hosts: Vec::new(),
            thank_you_path: super::values::default_thank_you_path(),
            fallback_url: super::values::default_thank_you_path(),
        }
    }
}

/// An allowed redirect host as the `Origin` header carries it: a host name (or an IP address,
/// IPv6 in brackets), optionally with `:port`; returned in lower case.
pub fn allowed_host(entry: &str) -> Result<String, String> {
    host_form(entry).map_err(|why| {
        let like = host_hint(entry).unwrap_or_else(|| "www.example.com".into());
        format!("{entry:?} is not a host name: {why}; write only the host (and :port if needed), like {like}")
    })
}

fn host_form(entry: &str) -> Result<String, String> {
    let host = entry.trim().to_ascii_lowercase();
    if host.contains("://") {
        return Err("it has a scheme".into());
    }
    if host.contains('/') {
        return Err("it has a path or /".into());
    }
    if host.contains('@') {
        return Err("it has an @".into());
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it has spaces or control characters".into());
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (address, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs its closing ]")?;
        address
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("[{address}] is not an IPv6 address"))?;
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err("only :port may follow the ]".into()),
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host.as_str()), None),
        }
    };
    if let Some(port) = port {
        let ok = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p != 0);
        if !ok {
            return Err(format!(
                "{port:?} is not a port (an IPv6 address goes in brackets)"
            ));
        }
    }
    if let Some(name) = name {
        if name.split('.').any(|label| label.is_empty()) {
            return Err("it has an empty label (.. or a leading or trailing .)".into());
        }
        if name.len() > 253 || name.split('.').any(|label| label.len() > 63) {
            return Err("it is too long for a host name".into());
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(match c {
                '*' => "wildcards are not supported, list each host".to_string(),
                c if !c.is_ascii() => format!(
                    "{c:?} is not allowed (an international name is written in punycode, xn--…)"
                ),
                c => format!("{c:?} is not allowed in a host name"),
            });
        }
    }
    Ok(host)
}

/// The host of a URL-like entry (`https://user@WWW.example.com:8443/x` → `www.example.com:8443`),
/// if that is a valid host.
fn host_hint(entry: &str) -> Option<String> {
    let rest = entry.trim();
    let rest = rest.split_once("://").map_or(rest, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    host_form(host).ok().filter(|h| !h.is_empty())
}

/// Browsers read `/\evil.example` as another host, and a line break would end the `Location`
/// header (as for a campaign's `thank_you_url`).
fn has_control_or_backslash(url: &str) -> bool {
    url.chars().any(|c| c.is_control() || c == '\\')
}

/// A path on the form's own site: `<origin><thank_you_path>`.
pub fn check_thank_you_path(path: &str) -> Result<(), String> {
    if has_control_or_backslash(path) {
        return Err(format!(
            "{path:?} must not contain control characters or backslashes"
        ));
    }
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(format!(
            "{path:?} must be a path starting with a single /, like /thank-you"
        ));
    }
    path.parse::<actix_web::http::Uri>()
        .map(drop)
        .map_err(|_| format!("{path:?} is not a valid URL path"))
}

/// Where a browser goes when no other page fits: an absolute http(s) URL, or a path on this host.
pub fn check_fallback_url(url: &str) -> Result<(), String> {
    if has_control_or_backslash(url) {
        return Err(format!(
            "{url:?} must not contain control characters or backslashes"
        ));
    }
    if url.starts_with('/') {
        return check_thank_you_path(url);
    }
    match url.parse::<actix_web::http::Uri>() {
        Ok(uri)
            if matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.host().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{url:?} must be an absolute http(s):// URL, like https://www.example.com/thank-you, or a path starting with a single /, like /thank-you"
        )),
    }
}
