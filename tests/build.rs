//! Builds the test component for wasm32-wasip2 and passes its path to the tests as
//! `HOSTILE_NODE_WASM`, so a test names the component it runs and needs no manual wasm build.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("the tests crate sits in the workspace").to_path_buf();
    let component = manifest_dir.join("components/hostile");
    for watched in ["src", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", component.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());

    let target_dir = env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target")).join("wasm");
    let status = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(component.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .status()
        .expect("failed to start cargo to build the hostile test component");
    assert!(status.success(), "building the hostile test component failed. If the wasm32-wasip2 target is missing, run `rustup target add wasm32-wasip2`");

    let wasm = target_dir.join("wasm32-wasip2/release/hostile_node.wasm");
    println!("cargo:rustc-env=HOSTILE_NODE_WASM={}", wasm.display());
}
