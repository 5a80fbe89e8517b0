//! Rebuilds the plugin when the WIT contract changes: `wit_bindgen::generate!` reads `../wit`,
//! which cargo does not otherwise watch for this crate.

fn main() {
    println!("cargo:rerun-if-changed=../wit");
}
