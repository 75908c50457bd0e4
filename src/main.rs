//! `leadgate [serve|migrate|check-config] [--config PATH]`

use clap::{Parser, Subcommand};
use leadgate::config;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Configuration:
  A TOML file: config/default.toml, or the one named by --config PATH (environment variable:
  LEADGATE_CONFIG). Every configuration key can also be set by an environment variable, which
  wins over the file: the key in upper case (DATABASE_URL, SPOOL_PATH, ADMIN_TOKEN, ...), bind
  as LEADGATE_BIND, redirect.allowed_hosts as REDIRECT_ALLOWED_HOSTS; README.md lists them all.
  RUST_LOG sets the log filter (default: info).

Exit status:
  0  done (serve: stopped by SIGTERM or SIGINT)
  1  a resource could not be used: the port is taken, the database or the spool is unusable
  2  bad arguments or bad configuration (one line on stderr naming the key)";

/// leadgate: inbound-lead daemon. Captures leads from website forms and marketing platforms,
/// durably, and forwards them to the CRM.
#[derive(Parser)]
#[command(name = "leadgate", version, after_help = AFTER_HELP)]
struct Cli {
    /// The configuration file [default: config/default.toml, or LEADGATE_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<String>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Clone, Copy)]
enum Command {
    /// Run the daemon until SIGTERM or SIGINT (the default when no command is given)
    Serve,
    /// Create the database (and the SQLite file's folder) and apply pending migrations, then exit
    Migrate,
    /// Load and validate the configuration, print a summary, then exit
    CheckConfig,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    // Usage errors exit 2 (message on stderr); --help and --version print on stdout and exit 0.
    let cli = Cli::parse();
    let config = match config::load(cli.config.as_deref(), &config::process_env()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            println!(
                "configuration ok: bind={} database={} environment={}",
                config.bind,
                leadgate::app::redact(&config.database_url),
                config.environment.as_str()
            );
            ExitCode::SUCCESS
        }
        Command::Migrate => match leadgate::app::prepare_database(&config) {
            Ok(_) => {
                println!("migrations applied");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}", one_line(&e));
                ExitCode::from(1)
            }
        },
        Command::Serve => {
            let runner = actix_web::rt::System::new();
            if let Err(e) = runner.block_on(leadgate::app::serve(config)) {
                eprintln!("{}", one_line(&e));
                // Dropping the runner while actors and arbiters are alive can panic: exit first.
                std::process::exit(1);
            }
            drop(runner);
            ExitCode::SUCCESS
        }
    }
}

/// An error as exactly one line on stderr, whatever its message holds.
fn one_line(e: &anyhow::Error) -> String {
    let message = e.to_string();
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}
