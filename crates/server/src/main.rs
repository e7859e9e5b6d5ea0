//! `tessera`: the gateway binary.
#![forbid(unsafe_code)]

mod config;
mod installation;
mod scheduling;
mod transport;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tessera_crypto::api_key::KeyKind;

use config::{Config, Overrides};

// Many request threads allocate JSON documents concurrently; mimalloc's per-thread
// heaps avoid glibc malloc's contention (about a tenth of CPU time under load).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: a self-hosted, security-first payment gateway"
)]
struct Cli {
    /// Configuration file (TOML); also TESSERA_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (store, vault, master key); also TESSERA_DATA_DIR. Default ./tessera-data.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Listen address, IP:port; also TESSERA_LISTEN. Default 127.0.0.1:4242.
        #[arg(long)]
        listen: Option<String>,
        /// Address clients reach the API at, if not the listen address; also TESSERA_PUBLIC_URL.
        #[arg(long)]
        public_url: Option<String>,
        /// Plain-HTTP listener that redirects to HTTPS and answers ACME challenges; also TESSERA_HTTP_LISTEN.
        #[arg(long)]
        http_listen: Option<String>,
        /// The vault origin's address (tessera.js, card fields, hosted pages), IP:port;
        /// also TESSERA_VAULT_LISTEN. Default: the API's port + 1.
        #[arg(long)]
        vault_listen: Option<String>,
        /// Write {"api": URL, "pid": N} here once listening.
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage accounts.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Card vault maintenance.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// An account's fraud rules, in Stripe Radar's syntax (also /v1/radar/rules).
    Rules {
        /// The account.
        #[arg(long, global = true)]
        account: Option<String>,
        /// The account's live-mode rules rather than its test-mode ones.
        #[arg(long, global = true)]
        live: bool,
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// List the account's rules (Radar's default rules apply after them).
    List,
    /// Add a rule, e.g. "Block if :card_country: != :ip_country:".
    Add {
        /// The rule.
        rule: String,
        /// What the rule is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a rule by id.
    Delete {
        /// The rule's id (rule_…).
        id: String,
    },
    /// Replay the past days' attempts with a new rule and report what it would change.
    DryRun {
        /// The rule.
        rule: String,
        /// How many days of attempts to replay.
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a test-mode key and print it (shown once).
    Create {
        /// What the key may do.
        #[arg(long, value_enum)]
        kind: Kind,
        /// Account (default: the only account).
        #[arg(long)]
        account: Option<String>,
        /// For restricted keys: RESOURCE=read|write, repeatable.
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// A live-mode key (sk_live_…); live keys are accepted over HTTPS only.
        #[arg(long)]
        live: bool,
    },
    /// Revoke a key.
    Revoke {
        /// The key.
        key: String,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Create a test-mode account with a secret and a publishable key.
    Create,
    /// Change an account's settings.
    Configure {
        /// The account.
        #[arg(long)]
        account: String,
        /// Decline payments whose CVC check fails.
        #[arg(long)]
        block_cvc_failures: Option<bool>,
        /// An origin of the merchant's site that may frame Tessera's card fields and
        /// challenge pages (https://shop.example); repeat for several. Replaces the list.
        #[arg(long = "merchant-origin")]
        merchant_origins: Vec<String>,
        /// Forget the registered merchant origins.
        #[arg(long)]
        clear_merchant_origins: bool,
    },
}

#[derive(Subcommand)]
enum VaultCommand {
    /// Start a new data-encryption key for new cards.
    RotateKey,
    /// Re-encrypt every card stored under a retired data key.
    Reencrypt,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Secret,
    Publishable,
    Restricted,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (listen, http_listen, vault_listen, public_url) = match &cli.command {
        Command::Serve {
            listen,
            http_listen,
            vault_listen,
            public_url,
            ..
        } => (
            listen.clone(),
            http_listen.clone(),
            vault_listen.clone(),
            public_url.clone(),
        ),
        _ => (None, None, None, None),
    };
    let overrides = Overrides {
        config_file: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        listen,
        http_listen,
        vault_listen,
        public_url,
    };
    let config = match Config::resolve(&overrides, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tessera: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve { ready_file, .. } => installation::serve(&config, ready_file.as_deref()),
        Command::Keys {
            command:
                KeysCommand::Create {
                    kind,
                    account,
                    permissions,
                    live,
                },
        } => {
            let kind = match kind {
                Kind::Secret => KeyKind::Secret,
                Kind::Publishable => KeyKind::Publishable,
                Kind::Restricted => KeyKind::Restricted,
            };
            installation::create_key(&config, kind, live, account.as_deref(), &permissions)
        }
        Command::Keys {
            command: KeysCommand::Revoke { key },
        } => installation::revoke_key(&config, &key),
        Command::Accounts {
            command: AccountsCommand::Create,
        } => installation::create_account(&config),
        Command::Accounts {
            command:
                AccountsCommand::Configure {
                    account,
                    block_cvc_failures,
                    merchant_origins,
                    clear_merchant_origins,
                },
        } => installation::configure_account(
            &config,
            &account,
            block_cvc_failures,
            (!merchant_origins.is_empty() || clear_merchant_origins)
                .then_some(&merchant_origins[..]),
        ),
        Command::Vault {
            command: VaultCommand::RotateKey,
        } => installation::rotate_vault_key(&config),
        Command::Vault {
            command: VaultCommand::Reencrypt,
        } => installation::reencrypt_vault(&config),
        Command::Rules {
            account,
            live,
            command,
        } => {
            let form = |pairs: &[(&str, &str)]| {
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
            };
            let (method, path, body) = match &command {
                RulesCommand::List => {
                    ("GET", "/v1/radar/rules?limit=100".to_owned(), String::new())
                }
                RulesCommand::Add { rule, description } => {
                    let mut pairs = vec![("rule", rule.as_str())];
                    if let Some(d) = description {
                        pairs.push(("description", d));
                    }
                    ("POST", "/v1/radar/rules".to_owned(), form(&pairs))
                }
                RulesCommand::Delete { id } => {
                    ("DELETE", format!("/v1/radar/rules/{id}"), String::new())
                }
                RulesCommand::DryRun { rule, days } => (
                    "POST",
                    "/v1/radar/rules/dry_run".to_owned(),
                    form(&[("rule", rule), ("days", &days.to_string())]),
                ),
            };
            installation::operator_call(&config, account.as_deref(), live, method, &path, &body)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e}");
            ExitCode::FAILURE
        }
    }
}
