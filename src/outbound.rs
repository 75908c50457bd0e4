//! Outbound HTTP: one way to build a client for every call leadgate makes (the CRM webhook now;
//! the Graph API, FCM and Twilio next). HTTPS verifies certificates against the system's roots, or
//! against `SSL_CERT_FILE` when it is set (a PEM bundle that replaces them, as for OpenSSL).
//! Link-local addresses (169.254.0.0/16, fe80::/10: where cloud metadata services answer) are
//! never connected to: an IP in the URL is checked before each attempt (`forbidden_destination`),
//! a host name when it is resolved (decimal and octal notations resolve too).

use actix_tls::connect::{Connector as TcpConnector, Resolve, Resolver};
use futures_util::future::LocalBoxFuture;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

pub type TlsConfig = Arc<rustls::ClientConfig>;

/// The TLS settings of every outbound connection, read once at start. Without any root (no CA
/// bundle on this system) leadgate still runs: every HTTPS attempt then fails, and says why.
pub fn tls_config() -> TlsConfig {
    let loaded = rustls_native_certs::load_native_certs();
    let source = match std::env::var_os("SSL_CERT_FILE") {
        Some(path) => format!("SSL_CERT_FILE={}", path.to_string_lossy()),
        None => "system".to_string(),
    };
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(loaded.certs);
    for error in &loaded.errors {
        log::warn!("tls.roots_unreadable source={source} error={error}");
    }
    if added == 0 {
        log::error!("tls.no_roots source={source}: outbound HTTPS will fail certificate checks (install ca-certificates or set SSL_CERT_FILE)");
    } else {
        log::info!("tls.roots loaded={added} source={source}");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// `SSL_CERT_FILE`, when set, must be a readable PEM bundle with at least one certificate: it
/// replaces the system's roots, so a wrong path would silently fail every HTTPS call.
pub fn check_cert_file(path: &std::path::Path) -> Result<usize, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs.len())
}

/// A client for one purpose: TLS as above, no redirects followed, `timeout` per request (and for
/// connecting), `User-Agent: leadgate/<version>`.
pub fn client(tls: &TlsConfig, timeout: Duration) -> awc::Client {
    let connector = awc::Connector::new()
        .connector(TcpConnector::new(Resolver::custom(RefuseLinkLocal)).service())
        .rustls_0_23(tls.clone())
        .timeout(timeout);
    awc::Client::builder()
        .connector(connector)
        .disable_redirects()
        .timeout(timeout)
        .add_default_header((
            "User-Agent",
            format!("leadgate/{}", env!("CARGO_PKG_VERSION")),
        ))
        .finish()
}

/// Whether leadgate refuses to connect to this address: link-local, where cloud metadata lives.
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // IPv4 inside IPv6: the deprecated compatible form (::a.b.c.d) and NAT64 (64:ff9b::/96).
            let embedded = std::net::Ipv4Addr::new(
                (s[6] >> 8) as u8,
                s[6] as u8,
                (s[7] >> 8) as u8,
                s[7] as u8,
            );
            let carries_v4 = s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            (s[0] & 0xffc0) == 0xfe80 || (carries_v4 && embedded.is_link_local())
        }
    }
}

/// Why a URL may not be a delivery destination, if it may not; `None` when it may. Host names are
/// checked again when they are resolved, at every connection.
pub fn forbidden_destination(url: &str) -> Option<String> {
    let uri: actix_web::http::Uri = match url.parse() {
        Ok(uri) => uri,
        Err(_) => return Some(format!("{url:?} is not a URL")),
    };
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) => {
            let literal = host.trim_start_matches('[').trim_end_matches(']');
            match literal.parse::<IpAddr>() {
                Ok(ip) if is_link_local(ip) => Some(format!(
                    "{host} is a link-local address (cloud metadata services live there)"
                )),
                _ => None,
            }
        }
        _ => Some(format!("{url:?} is not an http(s) URL")),
    }
}

/// Name resolution that drops link-local answers (and fails when nothing else is left), so that a
/// host name, a decimal or octal address, or a DNS record cannot lead to a metadata service.
struct RefuseLinkLocal;

impl Resolve for RefuseLinkLocal {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        let name = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Box::pin(async move {
            let resolved = actix_rt::task::spawn_blocking(move || {
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(|addrs| addrs.collect::<Vec<_>>())
            })
            .await
            .map_err(|e| Box::new(std::io::Error::other(e.to_string())) as Box<_>)??;
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|a| !is_link_local(a.ip()))
                .collect();
            if allowed.is_empty() && !resolved.is_empty() {
                return Err(
                    format!("{host} resolves to a link-local address only; refused").into(),
                );
            }
            Ok(allowed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_in_every_notation_is_refused() {
        for url in [
            "http://169.254.169.254/latest/meta-data",
            "https://[fe80::1]/hook",
            "http://[::ffff:169.254.169.254]/",
            "http://[::a9fe:a9fe]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "ftp://example.com/",
            "not a url",
        ] {
            assert!(forbidden_destination(url).is_some(), "{url}");
        }
        for url in [
            "https://hook.eu1.make.com/abc",
            "http://127.0.0.1:9000/hook",
            "http://10.0.0.5/x",
            "https://[2001:db8::1]/",
        ] {
            assert_eq!(forbidden_destination(url), None, "{url}");
        }
    }

    #[actix_rt::test]
    async fn names_that_resolve_to_link_local_are_refused() {
        // inet_aton reads a bare decimal as an IPv4 address: 2852039166 is 169.254.169.254.
        assert!(RefuseLinkLocal.lookup("2852039166", 80).await.is_err());
        assert!(RefuseLinkLocal
            .lookup("0251.0376.0251.0376", 80)
            .await
            .is_err());
        let local = RefuseLinkLocal.lookup("localhost", 80).await.unwrap();
        assert!(local.iter().all(|a| a.ip().is_loopback()));
    }
}
