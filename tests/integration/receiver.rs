//! A local HTTP(S) receiver standing in for the CRM webhook: it records every request and answers
//! with a scripted behaviour (a status, a hang, a dropped connection). The HTTPS variant presents
//! a certificate from a CA made for the test, which the daemon trusts only through `SSL_CERT_FILE`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub enum Behavior {
    Status(u16),
    /// Answers this status after a while.
    Slow(Duration, u16),
    Hang(Duration),
    Drop,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the receiver got JSON")
    }
}

pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Behavior>>>,
    default: Arc<Mutex<Behavior>>,
}

/// A certificate authority made for one test, and the PEM file of its certificate.
pub struct TestCa {
    pub pem_path: std::path::PathBuf,
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    _dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "leadgate test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pem_path = dir.path().join("ca.pem");
        std::fs::write(&pem_path, cert.pem()).unwrap();
        TestCa {
            pem_path,
            cert,
            key,
            _dir: dir,
        }
    }

    /// A server certificate for 127.0.0.1, signed by this CA.
    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        Arc::new(config)
    }
}

impl Receiver {
    pub fn start(default: Behavior) -> Receiver {
        Receiver::listen(default, None)
    }

    /// An HTTPS receiver whose certificate only `ca` vouches for.
    pub fn start_tls(default: Behavior, ca: &TestCa) -> Receiver {
        Receiver::listen(default, Some(ca.server_config()))
    }

    fn listen(default: Behavior, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/hook", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            received: Arc::default(),
            script: Arc::default(),
            default: Arc::new(Mutex::new(default)),
        };
        let (received, script, default) = (
            receiver.received.clone(),
            receiver.script.clone(),
            receiver.default.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (received, script, default, tls) = (
                    received.clone(),
                    script.clone(),
                    default.clone(),
                    tls.clone(),
                );
                std::thread::spawn(move || match tls {
                    None => {
                        serve(&stream, &received, &script, &default);
                        let _ = stream.shutdown(std::net::Shutdown::Both);
                    }
                    Some(config) => {
                        let connection = rustls::ServerConnection::new(config).unwrap();
                        let mut tls = rustls::StreamOwned::new(connection, stream);
                        serve(&mut tls, &received, &script, &default);
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                        let _ = tls.sock.shutdown(std::net::Shutdown::Both);
                    }
                });
            }
        });
        receiver
    }

    /// The next answers, in order; then the default.
    pub fn script(&self, behaviors: &[Behavior]) {
        self.script
            .lock()
            .unwrap()
            .extend(behaviors.iter().cloned());
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "receiver got {} of {count} requests",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Reads one request (a failed TLS handshake ends here: nothing is recorded) and answers it.
fn serve<S: Read + Write>(
    stream: S,
    received: &Mutex<Vec<Received>>,
    script: &Mutex<VecDeque<Behavior>>,
    default: &Mutex<Behavior>,
) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    received.lock().unwrap().push(Received {
        at: Instant::now(),
        path,
        headers,
        body,
    });
    let behavior = script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| default.lock().unwrap().clone());
    let stream = reader.get_mut();
    match behavior {
        Behavior::Status(code) => {
            let location = if (300..400).contains(&code) {
                "Location: http://127.0.0.1:1/elsewhere\r\n"
            } else {
                ""
            };
            let _ = write!(stream, "HTTP/1.1 {code} Scripted\r\n{location}Content-Length: 2\r\nConnection: close\r\n\r\nok");
        }
        Behavior::Slow(duration, code) => {
            std::thread::sleep(duration);
            let _ = write!(
                stream,
                "HTTP/1.1 {code} Scripted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
        Behavior::Hang(duration) => std::thread::sleep(duration),
        Behavior::Drop => {}
    }
    let _ = stream.flush();
}
