//! The commands of the one binary: `serve` (the default), `migrate`, `create-user`, `healthcheck`,
//! and the operator's `users …` and `sessions purge`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::{
    audit::{self, Event, Origin},
    auth::{
        accounts::{self, RegisterError, Registration},
        admin::{self, Actor, AdminError},
        housekeeping,
        password::{Password, PasswordHasher},
        session_store::SessionPolicy,
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
        /// 3–32 ASCII letters, digits, `_`, `-` or `.`
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// Look after accounts: list, deactivate, activate, set a role, end sessions.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Expiring rows.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users, newest first, with their live sessions.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Only users whose username or email contains this (any case).
        #[arg(long)]
        query: Option<String>,
    },
    /// Lock a user out: they cannot log in, and every session of theirs ends now.
    Deactivate {
        /// Username or email.
        name: String,
    },
    /// Let a deactivated user log in again.
    Activate {
        /// Username or email.
        name: String,
    },
    /// Give a user the role `admin` or `user`.
    SetRole {
        /// Username or email.
        name: String,
        #[arg(value_parser = ["admin", "user"])]
        role: String,
    },
    /// End every session of a user (they must log in again).
    EndSessions {
        /// Username or email.
        name: String,
    },
    /// Remove a user's second factor (TOTP and recovery codes): they log in with the password alone.
    ClearTwoFactor {
        /// Username or email.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Delete expired sessions, throttle counters and spent or expired reset tokens now.
    Purge,
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
        Command::Users { command } => users(command, &settings).await,
        Command::Sessions { command: SessionsCommand::Purge } => {
            let db = startup::connect_as_configured(&settings).await?;
            let policy = SessionPolicy::new(settings.session_idle_timeout, settings.session_max_age);
            let purged =
                housekeeping::purge_expired(&db, &Clock::default(), &policy, &settings.throttle).await?;
            println!(
                "purged {} expired session(s), {} throttle counter(s), {} reset token(s), {} confirmation token(s)",
                purged.sessions, purged.throttle_counters, purged.reset_tokens, purged.confirmation_tokens
            );
            Ok(())
        }
        Command::CreateUser { username, email, admin } => {
            let (password, password_confirm) = read_password()?;
            let db = startup::connect_as_configured(&settings).await?;
            let registration = Registration {
                username,
                email,
                password,
                password_confirm,
                role: if admin { accounts::ROLE_ADMIN } else { accounts::ROLE_USER },
                // The operator vouches for the address they typed.
                email_confirmed: true,
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

/// The operator's account commands; each act is a security event "by an operator".
async fn users(command: UsersCommand, settings: &Settings) -> anyhow::Result<()> {
    let db = startup::connect_as_configured(settings).await?;
    let clock = Clock::default();
    let actor = Actor::Cli;
    let record = |event: Event, user_id: i64| {
        let (db, clock, detail) = (db.clone(), clock.clone(), actor.describe());
        async move { audit::record(&db, &clock, event, Some(user_id), &Origin::default(), Some(detail)).await }
    };
    match command {
        UsersCommand::List { json, query } => list_users(&db, &clock, query.as_deref(), json).await,
        UsersCommand::Deactivate { name } => {
            let user = admin::find_by_name(&db, &name).await.map_err(cli_error(&name))?;
            admin::deactivate(&db, &clock, &actor, user.id).await.map_err(cli_error(&name))?;
            record(Event::AdminDeactivated, user.id).await;
            println!("deactivated {} ({}): every session ended, login refused", user.username, user.email);
            Ok(())
        }
        UsersCommand::Activate { name } => {
            let user = admin::find_by_name(&db, &name).await.map_err(cli_error(&name))?;
            admin::activate(&db, &clock, user.id).await.map_err(cli_error(&name))?;
            record(Event::AdminActivated, user.id).await;
            println!("activated {} ({})", user.username, user.email);
            Ok(())
        }
        UsersCommand::SetRole { name, role } => {
            let user = admin::find_by_name(&db, &name).await.map_err(cli_error(&name))?;
            admin::set_role(&db, &clock, &actor, user.id, &role).await.map_err(cli_error(&name))?;
            record(Event::AdminRoleChanged, user.id).await;
            println!("{} ({}) now has the role {role}", user.username, user.email);
            Ok(())
        }
        UsersCommand::EndSessions { name } => {
            let user = admin::find_by_name(&db, &name).await.map_err(cli_error(&name))?;
            let (_, ended) = admin::end_sessions(&db, &clock, user.id).await.map_err(cli_error(&name))?;
            record(Event::AdminEndedSessions, user.id).await;
            println!("ended {ended} session(s) of {} ({})", user.username, user.email);
            Ok(())
        }
        UsersCommand::ClearTwoFactor { name } => {
            let user = admin::find_by_name(&db, &name).await.map_err(cli_error(&name))?;
            let (_, was_on) = admin::clear_two_factor(&db, user.id).await.map_err(cli_error(&name))?;
            if was_on {
                record(Event::AdminClearedTwoFactor, user.id).await;
                println!("removed the second factor of {} ({})", user.username, user.email);
            } else {
                println!("{} ({}) had no second factor: nothing changed", user.username, user.email);
            }
            Ok(())
        }
    }
}

fn cli_error(name: &str) -> impl FnOnce(AdminError) -> anyhow::Error + '_ {
    move |error| match error {
        AdminError::UnknownUser => anyhow::anyhow!("no user has the username or email `{name}`"),
        other => anyhow::Error::new(other),
    }
}

async fn list_users(
    db: &crate::db::Db,
    clock: &Clock,
    query: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut page = 1;
    loop {
        let listing = admin::list_users(db, clock, query, page).await?;
        rows.extend(listing.users);
        if page >= listing.pages {
            break;
        }
        page += 1;
    }
    if json {
        let users: Vec<serde_json::Value> = rows
            .iter()
            .map(|(user, live)| {
                serde_json::json!({
                    "id": user.id,
                    "username": user.username,
                    "email": user.email,
                    "role": user.role,
                    "active": user.is_active,
                    "created_at": user.created_at.to_rfc3339(),
                    "last_login_at": user.last_login_at.map(|at| at.to_rfc3339()),
                    "live_sessions": live,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&users)?);
        return Ok(());
    }
    println!(
        "{:<6} {:<32} {:<40} {:<6} {:<12} {:>8}",
        "id", "username", "email", "role", "status", "sessions"
    );
    for (user, live) in &rows {
        let status = if user.is_active { "active" } else { "deactivated" };
        println!(
            "{:<6} {:<32} {:<40} {:<6} {:<12} {:>8}",
            user.id, user.username, user.email, user.role, status, live
        );
    }
    println!("{} user(s)", rows.len());
    Ok(())
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
