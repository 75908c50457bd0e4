//! Where a browser goes after a form post. Never to a host taken from the request unless that
//! host is configured or is one of the account's campaign sites.

use actix_web::http::Uri;

/// The origin of the page that posted the form, if it is an http(s) origin.
pub fn request_origin(origin: Option<&str>, referer: Option<&str>) -> Option<(String, String)> {
    [origin, referer].into_iter().flatten().find_map(|text| {
        let uri: Uri = text.trim().parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let host = uri.host()?.to_ascii_lowercase();
        let authority = match uri.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        Some((scheme, authority))
    })
}

/// The `Location` of the 301: the campaign's `thank_you_url`; else `<origin>/thank-you` for an
/// allowed origin host; else the fallback.
pub fn thank_you_location(
    campaign_thank_you_url: Option<&str>,
    origin: Option<(String, String)>,
    host_is_allowed: impl Fn(&str) -> bool,
    thank_you_path: &str,
    fallback_url: &str,
) -> String {
    if let Some(url) = campaign_thank_you_url.filter(|u| !u.is_empty()) {
        return url.to_string();
    }
    if let Some((scheme, authority)) = origin {
        if host_is_allowed(&authority) {
            return format!("{scheme}://{authority}{thank_you_path}");
        }
    }
    fallback_url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(authority: &str) -> bool {
        authority.split(':').next() == Some("skyline.example.com")
    }

    #[test]
    fn campaign_url_wins() {
        let o = request_origin(Some("https://skyline.example.com"), None);
        assert_eq!(
            thank_you_location(
                Some("https://t.example/thanks"),
                o,
                allow,
                "/thank-you",
                "/thank-you"
            ),
            "https://t.example/thanks"
        );
    }

    #[test]
    fn allowed_origin_gets_its_thank_you_page() {
        let o = request_origin(None, Some("https://Skyline.example.com/pricing?x=1"));
        assert_eq!(
            thank_you_location(None, o, allow, "/thank-you", "/fallback"),
            "https://skyline.example.com/thank-you"
        );
    }

    #[test]
    fn other_origins_get_the_fallback() {
        for origin in [
            "https://evil.example",
            "javascript:alert(1)",
            "//evil.example",
            "https://skyline.example.com.evil.example",
        ] {
            let o = request_origin(Some(origin), None);
            assert_eq!(
                thank_you_location(None, o, allow, "/thank-you", "/fallback"),
                "/fallback",
                "{origin}"
            );
        }
    }
}
