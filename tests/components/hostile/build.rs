//! Rebuilds the component when the WIT contract changes: `wit_bindgen::generate!` reads the
//! workspace's `wit` folder, which cargo does not otherwise watch for this crate.

fn main() {
    println!("cargo:rerun-if-changed=../../../wit");
}
