//! `leadgate [serve|migrate|check-config] [--config PATH]`

use leadgate::config;
use std::process::ExitCode;

const USAGE: &str = "usage: leadgate [serve|migrate|check-config] [--config PATH]";

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, config_path) = match parse_args(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match config::load(config_path.as_deref(), &config::process_env()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match command.as_str() {
        "check-config" => {
            println!(
                "configuration ok: bind={} database={} environment={}",
                config.bind,
                leadgate::app::redact(&config.database_url),
                config.environment.as_str()
            );
            Ok(())
        }
        "migrate" => {
            leadgate::app::prepare_database(&config).map(|_| println!("migrations applied"))
        }
        _ => actix_web::rt::System::new().block_on(leadgate::app::serve(config)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn parse_args(args: &[String]) -> Result<(String, Option<String>), String> {
    let mut command = None;
    let mut config_path = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--config" => config_path = Some(rest.next().ok_or("--config needs a path")?.clone()),
            s if s.starts_with("--config=") => {
                config_path = Some(s["--config=".len()..].to_string())
            }
            "-h" | "--help" => return Err("leadgate: inbound-lead daemon".into()),
            "serve" | "migrate" | "check-config" if command.is_none() => {
                command = Some(arg.clone())
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((command.unwrap_or_else(|| "serve".into()), config_path))
}
