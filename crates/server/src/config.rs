//! Configuration: defaults, then a TOML file, then `TESSERA_*` environment variables,
//! then command-line flags; validated once at start with messages that say what to fix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Settings a TOML file may give. Unknown keys are an error, so a typo is not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Where the store, the vault and the master key live.
    pub data_dir: Option<PathBuf>,
    /// Address of the API listener.
    pub listen: Option<String>,
    /// The address browsers and SDKs reach the API at, if not the listen address.
    pub public_url: Option<String>,
    /// Largest request body, in bytes.
    pub max_body_bytes: Option<usize>,
    /// Master key file, if not `<data_dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// How long the vault keeps the CVC of a card no payment has used, in seconds.
    pub cvc_ttl_seconds: Option<i64>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// API listener address.
    pub listen: SocketAddr,
    /// Public address, if configured.
    pub public_url: Option<String>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Master key file.
    pub master_key_file: PathBuf,
    /// CVC time-to-live for cards never charged.
    pub cvc_ttl_seconds: i64,
}

/// Values given on the command line.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config`
    pub config_file: Option<PathBuf>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--listen`
    pub listen: Option<String>,
    /// `--public-url`
    pub public_url: Option<String>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:4242";
const DEFAULT_MAX_BODY: usize = 256 * 1024;
const DEFAULT_CVC_TTL: i64 = 15 * 60;

impl Config {
    /// Resolves the layers. `env` is a lookup so tests can supply their own.
    pub fn resolve(
        flags: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, String> {
        let file_path = flags
            .config_file
            .clone()
            .or_else(|| env("TESSERA_CONFIG").map(PathBuf::from));
        let file = match &file_path {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = flags
            .data_dir
            .clone()
            .or_else(|| env("TESSERA_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./tessera-data"));
        let listen_text = flags
            .listen
            .clone()
            .or_else(|| env("TESSERA_LISTEN"))
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            format!("listen address '{listen_text}' is not an IP:port such as 127.0.0.1:4242 (set by --listen, TESSERA_LISTEN or listen in the config file)")
        })?;
        if !listen.ip().is_loopback() {
            return Err(format!(
                "listen address {listen} is not a loopback address. This build serves plain HTTP, which Tessera allows only in test mode on loopback (127.0.0.1 or ::1); put a TLS-terminating proxy in front or listen on loopback"
            ));
        }
        let public_url = flags
            .public_url
            .clone()
            .or_else(|| env("TESSERA_PUBLIC_URL"))
            .or(file.public_url);
        if let Some(url) = &public_url
            && (!(url.starts_with("http://") || url.starts_with("https://"))
                || url.contains(char::is_whitespace))
        {
            return Err(format!(
                "public_url '{url}' must be an absolute http:// or https:// URL"
            ));
        }
        let max_body_bytes = match env("TESSERA_MAX_BODY_BYTES") {
            Some(v) => v
                .parse()
                .map_err(|_| format!("TESSERA_MAX_BODY_BYTES '{v}' is not a number of bytes"))?,
            None => file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
        };
        if !(1024..=16 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(format!(
                "max_body_bytes {max_body_bytes} must be between 1024 and 16777216"
            ));
        }
        let master_key_file = env("TESSERA_MASTER_KEY_FILE")
            .map(PathBuf::from)
            .or(file.master_key_file)
            .unwrap_or_else(|| data_dir.join("master.key"));
        let cvc_ttl_seconds = match env("TESSERA_CVC_TTL_SECONDS") {
            Some(v) => v
                .parse()
                .map_err(|_| format!("TESSERA_CVC_TTL_SECONDS '{v}' is not a number of seconds"))?,
            None => file.cvc_ttl_seconds.unwrap_or(DEFAULT_CVC_TTL),
        };
        if !(1..=86_400).contains(&cvc_ttl_seconds) {
            return Err(format!(
                "cvc_ttl_seconds {cvc_ttl_seconds} must be between 1 and 86400"
            ));
        }
        Ok(Config {
            data_dir,
            listen,
            public_url,
            max_body_bytes,
            master_key_file,
            cvc_ttl_seconds,
        })
    }
}

fn load_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tessera.toml");
        std::fs::write(
            &file,
            "data_dir = \"/from-file\"\nlisten = \"127.0.0.1:1000\"\n",
        )
        .unwrap();
        let flags = Overrides {
            config_file: Some(file.clone()),
            ..Default::default()
        };
        let c = Config::resolve(&flags, env(&[])).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from-file"));
        assert_eq!(c.listen.port(), 1000);
        let c = Config::resolve(&flags, env(&[("TESSERA_LISTEN", "127.0.0.1:2000")])).unwrap();
        assert_eq!(c.listen.port(), 2000);
        let flags = Overrides {
            listen: Some("[::1]:3000".into()),
            ..flags
        };
        let c = Config::resolve(&flags, env(&[("TESSERA_LISTEN", "127.0.0.1:2000")])).unwrap();
        assert_eq!(c.listen.port(), 3000);
        assert_eq!(c.master_key_file, PathBuf::from("/from-file/master.key"));
    }

    #[test]
    fn bad_settings_say_what_to_fix() {
        let err = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_LISTEN", "0.0.0.0:80")]),
        )
        .unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let err = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_LISTEN", "nonsense")]),
        )
        .unwrap_err();
        assert!(err.contains("IP:port"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "lissen = \"127.0.0.1:1\"\n").unwrap();
        let err = Config::resolve(
            &Overrides {
                config_file: Some(file),
                ..Default::default()
            },
            env(&[]),
        )
        .unwrap_err();
        assert!(err.contains("lissen"), "{err}");
        let err = Config::resolve(
            &Overrides::default(),
            env(&[("TESSERA_MAX_BODY_BYTES", "12")]),
        )
        .unwrap_err();
        assert!(err.contains("max_body_bytes"), "{err}");
    }
}
