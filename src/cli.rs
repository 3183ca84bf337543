//! The commands of the one binary: `serve` (the default), `migrate`, `create-user`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::{
    auth::{
        accounts::{self, RegisterError, Registration},
        password::{Password, PasswordHasher},
    },
    clock::Clock,
    config::Settings,
    startup,
};

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "A web application whose login system simply works.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, then serve HTTP on BIND_ADDR (the default command).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an account. The password is read from standard input, never from the command line.
    CreateUser {
        /// 3–32 letters, digits, `_`, `-` or `.`
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
    },
}

pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => startup::serve(settings).await,
        Command::Migrate => {
            startup::connect_and_migrate(&settings).await?;
            log::info!("migrations are up to date");
            Ok(())
        }
        Command::CreateUser { username, email, admin } => {
            let (password, password_confirm) = read_password()?;
            let db = startup::connect_and_migrate(&settings).await?;
            let registration = Registration {
                username,
                email,
                password,
                password_confirm,
                role: if admin { accounts::ROLE_ADMIN } else { accounts::ROLE_USER },
            };
            let hasher = PasswordHasher::default();
            match accounts::register(
                &db,
                &hasher,
                &Clock::default(),
                settings.password_min_length,
                registration,
            )
            .await
            {
                Ok(user) => {
                    println!("created user {} ({}) with role {}", user.username, user.email, user.role);
                    Ok(())
                }
                Err(RegisterError::Invalid(errors)) => {
                    let lines: Vec<String> =
                        errors.iter().map(|(field, message)| format!("  {field}: {message}")).collect();
                    anyhow::bail!("the account was not created:\n{}", lines.join("\n"))
                }
                Err(error) => Err(error).context("creating the user"),
            }
        }
    }
}

/// From a terminal: asked twice without echo. From a pipe: the first line, taken as confirmed.
fn read_password() -> anyhow::Result<(Password, Password)> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let second = rpassword::prompt_password("Password (again): ").context("reading the password")?;
        return Ok((Password::new(&first), Password::new(&second)));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        anyhow::bail!(
            "no password on standard input: pipe one in, e.g. `printf '%s\\n' \"$PW\" | gatehouse create-user ...`"
        );
    }
    std::io::stderr().flush().ok();
    Ok((Password::new(password), Password::new(password)))
}
