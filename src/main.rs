//! The `tandem` binary: `tandem serve` (the default), `tandem token` and
//! `tandem check-config`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tandem::auth::{Authenticator, Claims};
use tandem::config::Settings;

#[derive(Parser)]
#[command(name = "tandem", version, about = "Real-time collaboration server")]
struct Cli {
    /// Config file (also TANDEM_CONFIG); default ./config.toml.
    #[arg(
        long,
        global = true,
        env = "TANDEM_CONFIG",
        default_value = "config.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Print a JWT signed with the configured key, for trying things out.
    Token {
        /// User id (`sub`).
        #[arg(long)]
        user: String,
        /// Tenant id (`tenant_id`).
        #[arg(long)]
        tenant: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Role: user, admin or service.
        #[arg(long, default_value = "user")]
        role: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Validate the config file (with the environment's overrides) and print
    /// the effective values, secrets masked. Exits 2 naming the bad key.
    CheckConfig,
}

fn main() -> ExitCode {
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).build();
    let max_level = logger.filter();
    // The accept loop's `Too many open files` at most once a minute (`fds`).
    if log::set_boxed_logger(Box::new(tandem::fds::QuietAccept::new(logger))).is_ok() {
        log::set_max_level(max_level);
    }
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tandem: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::CheckConfig => check_config(&cli.config, &settings),
        Command::Token {
            user,
            tenant,
            name,
            role,
            ttl,
        } => {
            let now = tandem::auth::now_secs();
            let claims = Claims {
                sub: user,
                tenant_id: tenant,
                name,
                role: Some(role),
                exp: Some(now + ttl),
                iat: Some(now),
                iss: settings.auth.issuer.clone(),
                aud: settings.auth.audience.clone(),
            };
            match Authenticator::issue(&settings.auth, &claims) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tandem: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// Checks what serde and `Settings::validate` cannot see (key files that
/// must be readable), then prints the effective settings; `Secret` values
/// print as `Secret(***)`.
fn check_config(path: &std::path::Path, settings: &Settings) -> ExitCode {
    if let Err(e) = Authenticator::new(&settings.auth) {
        eprintln!("tandem: {e}");
        return ExitCode::from(2);
    }
    println!(
        "# {}: valid ({:?} environment); effective values, secrets masked:",
        path.display(),
        settings.server.environment
    );
    println!("{settings:#?}");
    ExitCode::SUCCESS
}

fn serve(settings: Settings) -> ExitCode {
    let result = actix_web::rt::System::new().block_on(async move {
        let app = tandem::startup::Application::build(settings).await?;
        log::info!("tandem listening on port {}", app.port());
        app.run_until_stopped().await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    });
    match result {
        Ok(()) => {
            log::info!("tandem stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tandem: {e}");
            ExitCode::FAILURE
        }
    }
}
