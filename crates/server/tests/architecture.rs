//! The boundaries of ARCHITECTURE.md, checked from the workspace itself:
//! - the API's dependency closure does not contain the vault (so it cannot name a
//!   card-number type) nor the processor connectors;
//! - only the vault crate defines card-number and CVC types;
//! - every crate forbids unsafe code.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Package name → its workspace (path) dependencies.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for entry in fs::read_dir(workspace().join("crates")).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let doc: toml::Table = fs::read_to_string(&manifest).unwrap().parse().unwrap();
        let name = doc["package"]["name"].as_str().unwrap().to_owned();
        let deps = doc
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|t| {
                t.keys()
                    .filter(|k| k.starts_with("tessera-"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        graph.insert(name, deps);
    }
    graph
}

fn closure(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(next) = stack.pop() {
        for dep in &graph[&next] {
            if seen.insert(dep.clone()) {
                stack.push(dep.clone());
            }
        }
    }
    seen
}

#[test]
fn the_api_cannot_reach_card_data_types() {
    let g = graph();
    let api = closure(&g, "tessera-api");
    assert!(
        !api.contains("tessera-vault"),
        "tessera-api depends on the vault: {api:?}"
    );
    assert!(
        !api.contains("tessera-processor"),
        "tessera-api depends on a processor connector: {api:?}"
    );
    for lower in ["tessera-core", "tessera-crypto", "tessera-store"] {
        assert!(
            !closure(&g, lower).contains("tessera-vault"),
            "{lower} depends on the vault"
        );
    }
    // Dependencies point one way: core knows nothing of Tessera.
    assert!(g["tessera-core"].is_empty());
    assert_eq!(g["tessera-crypto"], BTreeSet::new());
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_vault_defines_card_number_and_cvc_types() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let defines = ["struct CardNumber", "struct Cvc", "enum CardNumber"]
            .iter()
            .any(|d| text.contains(d));
        let in_vault = file.components().any(|c| c.as_os_str() == "vault");
        let is_this_test = file.ends_with("tests/architecture.rs");
        assert!(
            !defines || in_vault || is_this_test,
            "{} defines a card-data type outside the vault",
            file.display()
        );
    }
}

#[test]
fn every_crate_forbids_unsafe_code() {
    for entry in fs::read_dir(workspace().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        for root in ["src/lib.rs", "src/main.rs"] {
            let path = dir.join(root);
            if path.exists() {
                let text = fs::read_to_string(&path).unwrap();
                assert!(
                    text.contains("#![forbid(unsafe_code)]"),
                    "{} lacks #![forbid(unsafe_code)]",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn one_tls_crypto_provider_in_the_tree() {
    // rustls, tokio-rustls, rcgen and instant-acme all use ring; aws-lc-rs must not
    // slip in through a default feature.
    let lock = fs::read_to_string(workspace().join("Cargo.lock")).unwrap();
    let packages: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|n| n.trim_end_matches('"'))
        .collect();
    assert!(packages.contains(&"ring"), "ring is the provider");
    for other in ["aws-lc-rs", "aws-lc-sys", "aws-lc-fips-sys"] {
        assert!(
            !packages.contains(&other),
            "{other} is in Cargo.lock: a second crypto provider crept in"
        );
    }
}
