//! The Notifier: each message to a representative (SMS through a Twilio stand-in, email to a real
//! SMTP server, push through an FCM stand-in that checks the service account's JWT) is its own
//! job, retried alone; every failure is in the lead's `errors` while the lead stays.

use crate::crm::{user, website_campaign};
use crate::graph::{FakeGraph, GraphRequest};
use crate::harness::{Daemon, TestDb};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A real SMTP server (`tests/support/smtp_sink.py`, aiosmtpd) writing each mail to a folder.
struct SmtpSink {
    child: Child,
    folder: PathBuf,
    port: u16,
}

impl SmtpSink {
    fn start(port: u16, folder: &Path) -> SmtpSink {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut child = Command::new("python3")
            .args([script, &port.to_string(), folder.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd)");
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(
            ready.trim(),
            "ready",
            "the SMTP sink did not start (aiosmtpd installed?)"
        );
        SmtpSink {
            child,
            folder: folder.to_path_buf(),
            port,
        }
    }

    /// The mails received so far, oldest first.
    fn mails(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        let read = |p: &PathBuf| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        names.iter().map(read).collect()
    }

    fn wait_for(&self, count: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        while self.mails().len() < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.mails()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A service account whose key the test made (openssl), and the public half to check with.
struct ServiceAccount {
    path: PathBuf,
    public_pem: Vec<u8>,
}

fn service_account(dir: &Path) -> ServiceAccount {
    let key = dir.join("key.pem");
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output()
        .expect("openssl");
    assert!(made.status.success(), "{made:?}");
    let public = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(public.status.success(), "{public:?}");
    let account = json!({"type": "service_account", "project_id": "proj-1",
        "private_key_id": "kid-1", "private_key": std::fs::read_to_string(&key).unwrap(),
        "client_email": "leadgate@proj-1.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token"});
    let path = dir.join("service-account.json");
    std::fs::write(&path, account.to_string()).unwrap();
    ServiceAccount {
        path,
        public_pem: public.stdout,
    }
}

#[derive(Debug, serde::Deserialize)]
struct Claims {
    iss: String,
    scope: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// FCM played locally: `/token` takes only an assertion signed by the account's key, for this
/// token URL, and hands out `ya29.gen<N>`; `messages:send` takes only the newest token and answers
/// `send_status`. `revoke` makes the token handed out so far refused.
struct FakeFcm {
    graph: FakeGraph,
    generation: Arc<std::sync::atomic::AtomicUsize>,
    send_status: Arc<Mutex<u16>>,
}

impl FakeFcm {
    fn start(public_pem: Vec<u8>, send_status: u16) -> FakeFcm {
        use std::sync::atomic::Ordering;
        let token_url: Arc<Mutex<String>> = Arc::default();
        let generation = Arc::new(std::sync::atomic::AtomicUsize::new(1));
        let send_status = Arc::new(Mutex::new(send_status));
        let (url, gen, status) = (token_url.clone(), generation.clone(), send_status.clone());
        let graph = FakeGraph::start(move |request: &GraphRequest| {
            let token = format!("ya29.gen{}", gen.load(Ordering::SeqCst));
            if request.path == "/token" {
                let form: std::collections::HashMap<String, String> =
                    form_urlencoded::parse(&request.body).into_owned().collect();
                return match verified(&form, &public_pem, &url.lock().unwrap()) {
                    Ok(()) => (200, json!({"access_token": token, "expires_in": 3600})),
                    Err(why) => (400, json!({"error": "invalid_grant", "why": why})),
                };
            }
            let bearer = request.headers.get("authorization").cloned();
            if bearer != Some(format!("Bearer {token}")) {
                return (401, json!({"error": {"status": "UNAUTHENTICATED"}}));
            }
            match *status.lock().unwrap() {
                200 => (200, json!({"name": "projects/proj-1/messages/1"})),
                404 => (
                    404,
                    json!({"error": {"status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}}),
                ),
                other => (other, json!({"error": {"status": "UNAVAILABLE"}})),
            }
        });
        *token_url.lock().unwrap() = format!("{}/token", graph.url);
        FakeFcm {
            graph,
            generation,
            send_status,
        }
    }

    fn revoke(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn sends(&self) -> Vec<Value> {
        let requests = self.graph.requests();
        let sends = requests
            .iter()
            .filter(|r| r.path.ends_with("messages:send"));
        sends
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    fn env<'a>(
        &'a self,
        account: &'a ServiceAccount,
        token_url: &'a str,
    ) -> Vec<(&'static str, &'a str)> {
        vec![
            ("FCM_PROJECT_ID", "proj-1"),
            ("FCM_CREDENTIALS", account.path.to_str().unwrap()),
            ("FCM_URL", self.graph.url.as_str()),
            ("FCM_TOKEN_URL", token_url),
        ]
    }
}

fn verified(
    form: &std::collections::HashMap<String, String>,
    public_pem: &[u8],
    token_url: &str,
) -> Result<(), String> {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return Err("grant_type".into());
    }
    let key = DecodingKey::from_rsa_pem(public_pem).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[token_url]);
    validation.set_issuer(&["leadgate@proj-1.iam.gserviceaccount.com"]);
    let assertion = form.get("assertion").ok_or("no assertion")?;
    let token = decode::<Claims>(assertion, &key, &validation).map_err(|e| e.to_string())?;
    let claims = token.claims;
    let fresh = (claims.exp - claims.iat) <= 3600 && claims.aud == token_url;
    match (token.header.kid.as_deref(), claims.scope.as_str(), fresh) {
        (Some("kid-1"), "https://www.googleapis.com/auth/firebase.messaging", true) => {
            let _ = claims.iss;
            Ok(())
        }
        other => Err(format!("unexpected {other:?}")),
    }
}

fn lead_errors(d: &Daemon, email: &str) -> Vec<String> {
    let leads = d.leads(&format!("q={email}"));
    let Some(lead) = leads.first() else {
        return Vec::new();
    };
    let detail = d.lead_detail(lead["lead_public_id"].as_str().unwrap());
    let errors = detail["lead"]["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    errors
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_representative_gets_an_email_and_a_push_signed_by_the_service_account() {
    let dir = tempfile::tempdir().unwrap();
    let account = service_account(dir.path());
    let fcm = FakeFcm::start(account.public_pem.clone(), 200);
    let token_url = format!("{}/token", fcm.graph.url);
    let smtp = SmtpSink::start(free_port(), &dir.path().join("mail"));
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let mut env = fcm.env(&account, &token_url);
    env.extend([
        ("SMTP_URL", smtp_url.as_str()),
        ("SMTP_FROM", "relay@example.com"),
    ]);
    let db = TestDb::new();
    let d = Daemon::start(&db, &env);
    let ana = user(
        &d,
        json!({"name": "ana", "email": "ana.rep@example.com", "fcm_token": "device-1"}),
    );
    website_campaign(
        &d,
        "Mailed",
        json!({"notification_type": "only_send_email", "selected_user": [{"id": ana}],
            "email_details": {"subject": "Lead: {{first_name}}", "from": "Sales <sales@example.com>",
                "reply_to": "desk@example.com",
                "content": "<p>{{first_name}} wants {{project_name}}</p>"}}),
    );
    let people = [
        ("Eve <script>x</script>", "eve@example.com", "+14155550100"),
        ("Flo Lima", "flo@example.com", "+14155550101"),
    ];
    for (name, email, phone) in people {
        let lead = json!({"name": name, "email": email, "phone": phone, "project": "Mailed"});
        assert_eq!(d.post_lead(&lead).status, 200);
    }
    let mails = smtp.wait_for(2, Duration::from_secs(20));
    assert_eq!(mails.len(), 2, "{mails:?}");
    for mail in &mails {
        assert_eq!(
            mail["mail_from"], "relay@example.com",
            "the envelope is SMTP_FROM's"
        );
        assert_eq!(mail["rcpt_tos"], json!(["ana.rep@example.com"]));
        let data = mail["data"].as_str().unwrap();
        assert!(data.contains("From: Sales <sales@example.com>"), "{data}");
        assert!(data.contains("Reply-To: desk@example.com"), "{data}");
        assert!(data.contains("Content-Type: text/html"), "{data}");
    }
    let all: String = mails.iter().map(|m| m["data"].as_str().unwrap()).collect();
    assert!(all.contains("Subject: Lead: Flo Lima"), "{all}");
    let body = |m: &Value| {
        m["data"]
            .as_str()
            .unwrap()
            .split_once("\r\n\r\n")
            .unwrap()
            .1
            .to_string()
    };
    let bodies: String = mails.iter().map(body).collect();
    assert!(
        bodies.contains("<p>Eve &lt;script&gt;x&lt;/script&gt; wants Mailed</p>"),
        "{bodies}"
    );
    assert!(
        !bodies.contains("<script>"),
        "the lead's markup is escaped in HTML: {bodies}"
    );
    d.wait_until("two pushes", || fcm.sends().len() >= 2);
    let mut pushed: Vec<String> = Vec::new();
    for push in fcm.sends() {
        assert_eq!(push["message"]["token"], "device-1");
        assert_eq!(
            push["message"]["notification"]["title"],
            "New lead for Mailed"
        );
        pushed.push(
            push["message"]["data"]["lead_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    pushed.sort();
    let mut leads: Vec<String> = ["eve@example.com", "flo@example.com"]
        .iter()
        .map(|email| {
            d.leads(&format!("q={email}"))[0]["lead_public_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    leads.sort();
    assert_eq!(pushed, leads, "one push per lead, each naming its lead");
    assert_eq!(fcm.graph.count("/token"), 1, "the access token is cached");
    for email in ["eve@example.com", "flo@example.com"] {
        assert!(
            lead_errors(&d, email).is_empty(),
            "{email}: {:?}",
            lead_errors(&d, email)
        );
    }
    // A token revoked before its time: a new one, and the push goes through in the same attempt.
    // No notification_type: no email, but a push all the same.
    fcm.revoke();
    website_campaign(&d, "Pushed", json!({"selected_user": [{"id": ana}]}));
    let lead = json!({"name": "Gus Reis", "email": "gus@example.com", "project": "Pushed"});
    assert_eq!(d.post_lead(&lead).status, 200);
    d.wait_until("the push after a new token", || fcm.sends().len() >= 4);
    assert_eq!(fcm.graph.count("/token"), 2);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        lead_errors(&d, "gus@example.com").is_empty(),
        "{:?}",
        lead_errors(&d, "gus@example.com")
    );
    assert_eq!(
        smtp.mails().len(),
        2,
        "no email without a notification_type"
    );
    let logs = d.logs();
    assert!(
        !logs.contains("ya29") && !logs.contains("PRIVATE KEY"),
        "secrets stay out of logs"
    );
}

#[test]
fn failures_are_recorded_on_the_lead_and_each_message_retried_alone() {
    let dir = tempfile::tempdir().unwrap();
    let account = service_account(dir.path());
    // The push is refused for good (an uninstalled app); the SMTP server is down at first.
    let fcm = FakeFcm::start(account.public_pem.clone(), 404);
    let token_url = format!("{}/token", fcm.graph.url);
    let port = free_port();
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let mut env = fcm.env(&account, &token_url);
    env.push(("SMTP_URL", smtp_url.as_str()));
    let db = TestDb::new();
    let d = Daemon::start(&db, &env);
    let bo = user(
        &d,
        json!({"name": "bo", "email": "bo.rep@example.com", "fcm_token": "gone"}),
    );
    website_campaign(
        &d,
        "Outage",
        json!({"notification_type": "send_email_sms", "selected_user": [{"id": bo}]}),
    );
    let lead = json!({"name": "Gil Sousa", "email": "gil@example.com", "project": "Outage"});
    assert_eq!(d.post_lead(&lead).status, 200);
    d.wait_until("both failures on the lead", || {
        let errors = lead_errors(&d, "gil@example.com");
        errors.contains(&"emailSendError".to_string())
            && errors.contains(&"pushSendError".to_string())
    });
    // No Twilio here: the SMS the campaign asks for is not written, and nothing says it failed.
    assert!(!lead_errors(&d, "gil@example.com").contains(&"SmsSendError".to_string()));
    let smtp = SmtpSink::start(port, &dir.path().join("mail"));
    // Retries come 1 s, 5 s and 30 s after the first attempt.
    let mails = smtp.wait_for(1, Duration::from_secs(60));
    assert_eq!(
        mails.len(),
        1,
        "the email got through once the server was up"
    );
    assert_eq!(mails[0]["rcpt_tos"], json!(["bo.rep@example.com"]));
    assert_eq!(
        mails[0]["mail_from"], "leadgate@localhost",
        "no SMTP_FROM: the default"
    );
    let data = mails[0]["data"].as_str().unwrap();
    assert!(data.contains("Subject: New lead for Outage: Gil"), "{data}");
    assert!(data.contains("Name: Gil Sousa"), "{data}");
    // The push was tried once and is a dead letter an operator can replay.
    let letters = d.admin_get("/admin/dead-letters?kind=notify")["dead_letters"].clone();
    assert_eq!(letters.as_array().unwrap().len(), 1, "{letters}");
    assert!(
        letters[0]["error"].as_str().unwrap().contains("HTTP 404"),
        "{letters}"
    );
    assert_eq!(fcm.sends().len(), 1);
    *fcm.send_status.lock().unwrap() = 200;
    let id = letters[0]["id"].as_i64().unwrap();
    let replay = d.admin(
        "POST",
        &format!("/admin/dead-letters/{id}/replay?kind=notify"),
        None,
    );
    assert_eq!(replay.status, 202, "{}", replay.body);
    d.wait_until("the replayed push", || fcm.sends().len() == 2);
    d.wait_until("the dead letter gone", || {
        d.admin_get("/admin/dead-letters?kind=notify")["dead_letters"] == json!([])
    });
    assert_eq!(smtp.mails().len(), 1, "the email was not sent again");
    let leads = d.leads("q=gil@example.com");
    assert_eq!(leads.len(), 1, "the lead stays");
}

#[test]
fn a_mailbox_the_server_refuses_is_a_final_failure() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(free_port(), &dir.path().join("mail"));
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let db = TestDb::new();
    let d = Daemon::start(&db, &[("SMTP_URL", smtp_url.as_str())]);
    let rep = user(&d, json!({"name": "gone", "email": "nobody@example.com"}));
    website_campaign(
        &d,
        "Refused",
        json!({"notification_type": "only_send_email", "selected_user": [{"id": rep}]}),
    );
    let lead = json!({"name": "Ivo Melo", "email": "ivo@example.com", "project": "Refused"});
    assert_eq!(d.post_lead(&lead).status, 200);
    d.wait_until("the refusal on the lead", || {
        lead_errors(&d, "ivo@example.com").contains(&"emailSendError".to_string())
    });
    // The lead's error and the dead letter are written by the same attempt's record; the letter
    // may show a moment after the error does.
    d.wait_until("the dead letter", || {
        d.admin_get("/admin/dead-letters?kind=notify")["dead_letters"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    });
    let letters = d.admin_get("/admin/dead-letters?kind=notify")["dead_letters"].clone();
    assert_eq!(letters.as_array().unwrap().len(), 1, "{letters}");
    assert_eq!(letters[0]["attempts"], 1, "a 5xx is not retried: {letters}");
    assert!(
        letters[0]["error"].as_str().unwrap().contains("550"),
        "{letters}"
    );
    assert!(smtp.mails().is_empty());
    assert_eq!(d.leads("q=ivo@example.com").len(), 1, "the lead stays");
}

#[test]
fn the_representative_gets_an_sms_through_twilio_retried_alone_on_failure() {
    use crate::receiver::{Behavior, Receiver};
    let twilio = Receiver::start(Behavior::Status(201));
    twilio.script(&[Behavior::Status(503)]);
    let base = twilio.url.trim_end_matches("/hook").to_string();
    let db = TestDb::new();
    let d = Daemon::start(
        &db,
        &[
            ("TWILIO_URL", base.as_str()),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("TWILIO_AUTH_TOKEN", "sekret"),
            ("TWILIO_FROM", "+15550009999"),
        ],
    );
    let ana = user(&d, json!({"name": "ana", "phone": "+14155550111"}));
    let bea = user(&d, json!({"name": "bea", "phone": "+14155550122"}));
    website_campaign(
        &d,
        "Texted",
        json!({"notification_type": "only_send_sms",
            "sms_details": {"content": "New lead {{first_name}} {{phone_e164}} for {{project_name}}"},
            "selected_user": [{"id": ana, "custom_number": null}, {"id": bea, "custom_number": "+14155550199"}]}),
    );
    let people = [
        ("Cai Dias", "cai@example.com", "+442079460177"),
        ("Dee Ito", "dee@example.com", "+442079460178"),
    ];
    for (name, email, phone) in people {
        let lead = json!({"name": name, "email": email, "phone": phone, "project": "Texted"});
        assert_eq!(d.post_lead(&lead).status, 200);
        d.wait_processed();
        // One at a time: the turn order is the leads' order.
        d.wait_until("the lead assigned", || {
            let leads = d.leads(&format!("q={email}"));
            !d.lead_detail(leads[0]["lead_public_id"].as_str().unwrap())["lead"]["assigned_user_id"]
                .is_null()
        });
    }
    // The first attempt met a 503: the message was sent again, alone.
    let received = twilio.wait_for(3, std::time::Duration::from_secs(20));
    let sent: Vec<(String, String, String)> = received
        .iter()
        .map(|r| {
            assert_eq!(r.path, "/2010-04-01/Accounts/AC123/Messages.json");
            // base64("AC123:sekret")
            assert_eq!(r.header("authorization"), Some("Basic QUMxMjM6c2VrcmV0"));
            let form: std::collections::HashMap<String, String> =
                form_urlencoded::parse(&r.body).into_owned().collect();
            assert_eq!(form["From"], "+15550009999");
            (form["To"].clone(), form["Body"].clone(), String::new())
        })
        .collect();
    let to = |number: &str| -> Vec<String> {
        let mut bodies: Vec<String> = sent
            .iter()
            .filter(|(to, _, _)| to == number)
            .map(|(_, body, _)| body.clone())
            .collect();
        bodies.dedup();
        bodies
    };
    let count = |number: &str| sent.iter().filter(|(to, _, _)| to == number).count();
    assert_eq!(
        to("+14155550111"),
        ["New lead Cai Dias +442079460177 for Texted"]
    );
    assert_eq!(
        to("+14155550199"),
        ["New lead Dee Ito +442079460178 for Texted"],
        "the campaign's custom_number for bea"
    );
    // Whichever met the 503 was sent again, the same message, and the other once.
    let (failed, email) = match count("+14155550111") {
        2 => ("+14155550111", "cai@example.com"),
        _ => ("+14155550199", "dee@example.com"),
    };
    assert_eq!(count(failed), 2);
    assert_eq!(sent.len(), 3);
    let leads = d.leads(&format!("q={email}"));
    let detail = d.lead_detail(leads[0]["lead_public_id"].as_str().unwrap());
    assert_eq!(
        detail["lead"]["errors"][0]["type"], "SmsSendError",
        "{detail}"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        twilio.received().len(),
        3,
        "each SMS sent once it got through"
    );
}
