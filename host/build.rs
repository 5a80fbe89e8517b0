//! Builds the SMS node plugin for wasm32-wasip2 and hands its path to the host, which embeds it
//! as the default plugin, so `cargo run` needs no separate wasm step.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("the host crate sits in the workspace").to_path_buf();
    for watched in ["plugin/src", "plugin/Cargo.toml", "plugin/Cargo.lock", "sms/src", "sms/Cargo.toml", "wit"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }

    let wasm = build_component(&workspace, &workspace.join("plugin/Cargo.toml"), "smsnode_plugin");
    println!("cargo:rustc-env=SMSNODE_PLUGIN_WASM={}", wasm.display());
}

/// Builds one component crate in release mode into the workspace's `target/wasm` directory and
/// returns the path of its `.wasm` file.
fn build_component(workspace: &Path, manifest: &Path, lib_name: &str) -> PathBuf {
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("wasm");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    let status = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // Flags meant for the host build do not apply to the wasm target.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("failed to start cargo to build the plugin component");
    if !status.success() {
        panic!(
            "building {} for wasm32-wasip2 failed. If the target is missing, run `rustup target add wasm32-wasip2`",
            manifest.display()
        );
    }

    target_dir.join("wasm32-wasip2/release").join(format!("{lib_name}.wasm"))
}
