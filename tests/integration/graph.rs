//! A local stand-in for Meta's Graph API (and any JSON API a test plays: FCM too): every request
//! is recorded (path, query, headers, body) and answered by the test's own function of it, with a
//! JSON body.

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A request as the stand-in got it: the path and the decoded query.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub path: String,
    pub query: HashMap<String, String>,
    /// Names in lowercase.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

type Answer = dyn Fn(&GraphRequest) -> (u16, Value) + Send + Sync;

pub struct FakeGraph {
    /// The base URL (`FACEBOOK_GRAPH_URL`).
    pub url: String,
    requests: Arc<Mutex<Vec<GraphRequest>>>,
    answer: Arc<Mutex<Arc<Answer>>>,
}

impl FakeGraph {
    pub fn start(
        answer: impl Fn(&GraphRequest) -> (u16, Value) + Send + Sync + 'static,
    ) -> FakeGraph {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let graph = FakeGraph {
            url: format!("http://{}", listener.local_addr().unwrap()),
            requests: Arc::default(),
            answer: Arc::new(Mutex::new(Arc::new(answer))),
        };
        let (requests, answer) = (graph.requests.clone(), graph.answer.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (requests, answer) = (requests.clone(), answer.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&stream);
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut headers = HashMap::new();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            headers.insert(name.trim().to_lowercase(), value.trim().to_string());
                        }
                    }
                    let length: usize = headers
                        .get("content-length")
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; length.min(1 << 20)];
                    if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
                        return;
                    }
                    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                    let request = GraphRequest {
                        path: path.to_string(),
                        query: form_urlencoded::parse(query.as_bytes())
                            .into_owned()
                            .collect(),
                        headers,
                        body,
                    };
                    requests.lock().unwrap().push(request.clone());
                    let respond = answer.lock().unwrap().clone();
                    let (status, body) = respond(&request);
                    let body = body.to_string();
                    let mut stream = &stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} Graph\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.flush();
                });
            }
        });
        graph
    }

    /// Answers from now on with `answer`.
    pub fn answer_with(
        &self,
        answer: impl Fn(&GraphRequest) -> (u16, Value) + Send + Sync + 'static,
    ) {
        *self.answer.lock().unwrap() = Arc::new(answer);
    }

    pub fn requests(&self) -> Vec<GraphRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests were made for `path`.
    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }
}

/// A Graph lead of one person.
pub fn graph_lead(id: &str, form: &str, name: &str, email: &str, phone: &str) -> Value {
    serde_json::json!({
        "id": id, "form_id": form, "created_time": "2026-12-01T10:00:00+0000",
        "field_data": [
            {"name": "full_name", "values": [name]},
            {"name": "email", "values": [email]},
            {"name": "phone_number", "values": [phone]},
        ]
    })
}

/// Meta's error object with `code`.
pub fn graph_error(code: i64, message: &str) -> (u16, Value) {
    (
        400,
        serde_json::json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "x"}}),
    )
}
