//! The commands of the one binary: `serve` (the default), `migrate`, `create-user`, `healthcheck`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::{
    auth::{
        accounts::{self, RegisterError, Registration},
        password::{Password, PasswordHasher},
    },
    clock::Clock,
    config::{Settings, SettingsArgs},
    startup,
};

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "A web application whose login system simply works.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, then serve HTTP on BIND_ADDR (the default command).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 when the server on BIND_ADDR answers `GET /healthz` with 200 (for container healthchecks).
    Healthcheck,
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
        Command::Healthcheck => healthcheck(&settings.bind_addr),
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

/// `GET /healthz` on the bound address over plain HTTP/1.0: the container image has no curl, and
/// `/bin/sh` there (dash) has no `/dev/tcp`.
pub fn healthcheck(bind_addr: &str) -> anyhow::Result<()> {
    use std::{io::Read as _, net::TcpStream, time::Duration};

    let mut addr: std::net::SocketAddr =
        bind_addr.parse().with_context(|| format!("BIND_ADDR `{bind_addr}` is not host:port"))?;
    // A server listening on every address is reached on loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let timeout = Duration::from_secs(3);
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET /healthz HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: gatehouse-healthcheck\r\n\r\n")?;
    let mut response = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut response).context("reading the answer")?;
    let response = String::from_utf8_lossy(&response);
    let status_line = response.lines().next().unwrap_or_default();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    if status_line.split_whitespace().nth(1) == Some("200") && body.trim() == "ok" {
        println!("ok");
        Ok(())
    } else {
        anyhow::bail!("GET /healthz on {addr} answered `{status_line}`")
    }
}
