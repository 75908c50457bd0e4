//! A real browser (headless Chromium) on a page that includes `/t.js`: two pages, then a
//! `data-leadgate` form, and the lead that comes of it. The pages drive themselves (timers), so
//! no browser-automation protocol is needed: the test only starts and stops the browser.

use crate::harness::{Daemon, TestDb};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

/// Serves the site's two pages (and a thank-you page for anything else) on its own port.
fn serve_site(leadgate: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let home = format!(
        "<!doctype html><html><head><title>Skyline home</title>\
         <script src=\"{leadgate}/t.js\"></script></head><body><h1>Skyline</h1>\
         <script>setTimeout(function(){{location.href='/contact'}},1500)</script></body></html>"
    );
    let contact = format!(
        "<!doctype html><html><head><title>Contact</title>\
         <script src=\"{leadgate}/t.js\"></script></head><body>\
         <form data-leadgate method=\"post\" action=\"{leadgate}/v1/leads\">\
         <input name=\"name\" value=\"Browser Person\">\
         <input name=\"email\" value=\"browser.person@example.com\">\
         <input name=\"project\" value=\"Skyline\"><button>Send</button></form>\
         <script>setTimeout(function(){{document.forms[0].requestSubmit()}},4000)</script>\
         </body></html>"
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/");
            let page = match path {
                "/" => home.as_str(),
                "/contact" => contact.as_str(),
                _ => "<!doctype html><title>Thanks</title><p>Thank you</p>",
            };
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = reader.get_mut().write_all(answer.as_bytes());
        }
    });
    address
}

struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn open_browser(url: &str, profile: &std::path::Path) -> Browser {
    let child = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.display()),
            url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium (Debian's chromium package; .ci/run installs it)");
    Browser(child)
}

#[test]
fn a_visitor_in_a_real_browser_becomes_a_tracked_lead() {
    let db = TestDb::new();
    // The daemon's own address is known once it runs; the site's pages name it.
    let d = Daemon::start(&db, &[("REDIRECT_ALLOWED_HOSTS", "127.0.0.1")]);
    let site = serve_site(&d.base);
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser(&format!("{site}/"), profile.path());
    // Chromium's start and the pages' 5.5 s of timers, on a machine busy with other tests.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while d.leads("").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no lead from the browser\n{}",
            d.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    d.wait_processed();
    drop(browser);
    let lead = d.leads("").remove(0);
    let detail = d.lead_detail(lead["lead_public_id"].as_str().unwrap());
    let submission = &detail["submissions"][0]["payload_json"];
    let visitor = submission["visitor_id"].as_str().unwrap_or_default();
    assert!(
        visitor.len() >= 32,
        "the tracker's visitor id: {submission}"
    );
    assert!(submission["session_id"]
        .as_str()
        .is_some_and(|s| s.len() >= 32));
    assert_eq!(submission["__pg_hp"], "", "the honeypot is there and empty");
    let data = &detail["lead"];
    assert_eq!(data["visitor_id"], visitor);
    assert_eq!(data["pages_visited"], 2, "home and contact: {data}");
    assert_eq!(data["return_visits"], 0);
    let seconds = data["session_duration_seconds"].as_i64().unwrap();
    assert!((1..60).contains(&seconds), "time on the site {seconds}");
    let time_to_submit = data["time_to_submit"].as_f64().unwrap();
    assert!((3.0..60.0).contains(&time_to_submit), "{time_to_submit}");
    assert!(!data["suspicion_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "time_to_submit_under_3s" || r == "form_time_missing"));
    let timeline = detail["timeline"].as_array().unwrap();
    let session = timeline.iter().find(|e| e["type"] == "session").unwrap();
    let titles: Vec<&str> = session["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(titles, vec!["Skyline home", "Contact"]);
}
