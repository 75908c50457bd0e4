//! `[redirect]`: host names, paths and URLs a browser may be sent to.

use super::{env, error_of};
use crate::config::Config;

#[test]
fn allowed_hosts_are_host_names() {
    let c = Config::from_sources(
        &toml::Table::new(),
        &env(&[(
            "REDIRECT_ALLOWED_HOSTS",
            "WWW.Example.com, shop.example.com:8443,localhost,[::1]:8080,203.0.113.7,my_host",
        )]),
    )
    .unwrap();
    assert_eq!(
        c.redirect.allowed_hosts,
        [
            "www.example.com",
            "shop.example.com:8443",
            "localhost",
            "[::1]:8080",
            "203.0.113.7",
            "my_host"
        ]
    );
    let bad = [
        "https://www.example.com/",
        "https://www.example.com",
        "www.example.com/",
        "www.example.com/thanks",
        "user@www.example.com",
        "www example.com",
        "www..example.com",
        ".example.com",
        "example.com.",
        "example.com:",
        "example.com:http",
        "example.com:99999",
        "example.com:0",
        "*.example.com",
        "::1",
        "[::1",
        "[nope]",
        "[::1]x",
        "bücher.example",
        "a\u{7}b",
    ];
    for entry in bad {
        let e = error_of("", &[("REDIRECT_ALLOWED_HOSTS", entry)]);
        assert_eq!(e.key, "REDIRECT_ALLOWED_HOSTS", "{entry}");
        assert!(e.problem.contains("is not a host name"), "{e}");
        assert!(e.problem.contains(", like "), "{e}");
    }
    let e = error_of(
        "",
        &[("REDIRECT_ALLOWED_HOSTS", "https://WWW.example.com:8443/x")],
    );
    assert!(e.problem.ends_with("like www.example.com:8443"), "{e}");
    let e = error_of(
        "",
        &[("REDIRECT_ALLOWED_HOSTS", "https://www.example.com/")],
    );
    assert_eq!(
        e.to_string(),
        "configuration error: REDIRECT_ALLOWED_HOSTS: \"https://www.example.com/\" is not a host name: \
         it has a scheme; write only the host (and :port if needed), like www.example.com"
    );
    let e = error_of(
        "[redirect]\nallowed_hosts = [\"ok.example\", \"http://x.example\"]\n",
        &[],
    );
    assert_eq!(e.key, "redirect.allowed_hosts");
    assert!(e.problem.contains("\"http://x.example\""), "{e}");
}

#[test]
fn thank_you_path_and_fallback_url() {
    let ok = Config::from_sources(
        &toml::Table::new(),
        &env(&[
            ("REDIRECT_THANK_YOU_PATH", "/thanks?from=form"),
            (
                "REDIRECT_FALLBACK_URL",
                "HTTPS://www.example.com/thanks?x=1",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(ok.redirect.thank_you_path, "/thanks?from=form");
    for url in [
        "/thanks",
        "http://example.com",
        "https://www.example.com:8443/t",
    ] {
        Config::from_sources(&toml::Table::new(), &env(&[("REDIRECT_FALLBACK_URL", url)]))
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    for path in [
        "thanks",
        "//evil.example",
        "/\\evil.example",
        "/a\u{1}b",
        "https://x.example/t",
        "/a b",
    ] {
        let e = error_of("", &[("REDIRECT_THANK_YOU_PATH", path)]);
        assert_eq!(e.key, "REDIRECT_THANK_YOU_PATH", "{path:?}");
    }
    for url in [
        "thanks",
        "www.example.com/thanks",
        "//evil.example",
        "/\\evil.example",
        "https:\\\\evil.example",
        "https://www.example.com/a\u{0}b",
        "javascript:alert(1)",
        "ftp://example.com/",
        "https://",
        "https:///path",
    ] {
        let e = error_of("", &[("REDIRECT_FALLBACK_URL", url)]);
        assert_eq!(e.key, "REDIRECT_FALLBACK_URL", "{url:?}");
    }
    let e = error_of("", &[("REDIRECT_FALLBACK_URL", "thanks")]);
    assert!(e.problem.contains("absolute http(s)://"), "{e}");
    let e = error_of("[redirect]\nfallback_url = \"thanks\"\n", &[]);
    assert_eq!(e.key, "redirect.fallback_url");
    let e = error_of("[redirect]\nthank_you_path = \"//x\"\n", &[]);
    assert_eq!(e.key, "redirect.thank_you_path");
}
